//! Printing results and errors.

use std::process::ExitCode;

use serde::Serialize;
use warden::ErrorKind;

use crate::exit;

/// A failed command: what to print and which exit code to return.
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
    pub code: u8,
}

impl Failure {
    pub fn from_engine(e: warden::Error) -> Self {
        let code = match e.kind() {
            ErrorKind::General => exit::ERROR,
            ErrorKind::Usage => exit::USAGE,
            ErrorKind::NotAuthorised => exit::NOT_AUTHORISED,
            ErrorKind::GateDenied => exit::GATE_DENIED,
            ErrorKind::Verification => exit::VERIFICATION,
            ErrorKind::Findings => exit::FINDINGS,
        };
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let s_text = s.to_string();
            if !message.contains(&s_text) {
                message.push_str(": ");
                message.push_str(&s_text);
            }
            source = s.source();
        }
        Failure {
            message,
            hint: e.hint(),
            code,
        }
    }

    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hint: None,
            code,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prints the failure on stderr (under `--json` as one JSON object:
    /// `{"error": {"kind", "message", "hint", "exit_code"}}`) and returns
    /// its exit code.
    pub fn report(self, json: bool) -> ExitCode {
        if json {
            let doc = serde_json::json!({"error": {
                "kind": kind_of(self.code),
                "message": self.message,
                "hint": self.hint,
                "exit_code": self.code,
            }});
            eprintln!("{doc}");
        } else {
            eprintln!("error: {}", self.message);
            if let Some(h) = self.hint {
                eprintln!("  hint: {h}");
            }
        }
        ExitCode::from(self.code)
    }
}

/// The name of an exit code's class, as JSON errors give it.
fn kind_of(code: u8) -> &'static str {
    match code {
        exit::USAGE => "usage",
        exit::NOT_AUTHORISED => "not_authorised",
        exit::GATE_DENIED => "gate_denied",
        exit::VERIFICATION => "verification",
        exit::FINDINGS => "findings",
        exit::DRIFT => "drift",
        _ => "error",
    }
}

/// How progress is shown, once `auto` is resolved against stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Bar,
    Plain,
    None,
}

impl Progress {
    pub fn of(arg: crate::cli::ProgressArg) -> Self {
        use crate::cli::ProgressArg;
        match arg {
            ProgressArg::Bar => Progress::Bar,
            ProgressArg::Plain => Progress::Plain,
            ProgressArg::None => Progress::None,
            ProgressArg::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => {
                Progress::Bar
            }
            ProgressArg::Auto => Progress::Plain,
        }
    }
}

/// A reader that prints one line of progress on stderr every 10 seconds:
/// what long work shows when stderr is not a terminal (a log, a CI job).
pub struct PlainProgress<R> {
    inner: R,
    label: String,
    total: u64,
    done: u64,
    started: std::time::Instant,
    last: std::time::Instant,
}

impl<R> PlainProgress<R> {
    pub fn new(inner: R, label: String, total: u64) -> Self {
        let now = std::time::Instant::now();
        PlainProgress {
            inner,
            label,
            total,
            done: 0,
            started: now,
            last: now,
        }
    }
}

impl<R: std::io::Read> std::io::Read for PlainProgress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.last.elapsed() >= std::time::Duration::from_secs(10) {
            self.last = std::time::Instant::now();
            let mb = |b: u64| b as f64 / 1e6;
            let pct = if self.total > 0 {
                format!("{:.0}%, ", 100.0 * self.done as f64 / self.total as f64)
            } else {
                String::new()
            };
            eprintln!(
                "{}: {pct}{:.0} of {:.0} MB read after {:.0} s",
                self.label,
                mb(self.done),
                mb(self.total),
                self.started.elapsed().as_secs_f64()
            );
        }
        Ok(n)
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new(exit::ERROR, format!("cannot write JSON output: {e}")))?;
    println!("{text}");
    Ok(())
}

/// A table with a header row, for human output.
pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header(header.iter().map(|h| h.to_uppercase()));
    t
}

/// A progress bar over bytes hashed, drawn on a terminal for models of
/// 64 MB and more (hidden with `--json`). Pass `&|done, total| …` from
/// [`ByteBar::callback`] to the engine.
pub struct ByteBar(indicatif::ProgressBar);

impl ByteBar {
    pub fn new(json: bool, message: &'static str) -> Self {
        if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return ByteBar(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message);
        ByteBar(bar)
    }

    pub fn update(&self, done: u64, total: u64) {
        if total >= 64 << 20 {
            self.0.set_length(total);
            self.0.set_position(done);
        }
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}
