//! `warden`: a secure lifecycle for machine-learning models.
//!
//! This binary owns argument parsing, human and JSON output, and exit codes.
//! Everything it does goes through the `warden` engine crate.
#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod demo;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::output::Failure;

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let json = cli.global.json;
    match cmd::run(cli) {
        Ok(code) => code,
        Err(failure) => failure.report(json),
    }
}

/// A reader that stops early (`warden audit log | head`) closes the pipe;
/// printing then fails with EPIPE, which `println!` turns into a panic.
/// That is not an error of the command: everything it changed is already
/// committed, and the reader has what it wanted. Exit 0 without a message,
/// as other command-line tools do, instead of a panic and exit 101.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Exit codes, the same for every command (documented in the README).
pub mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_AUTHORISED: u8 = 3;
    pub const GATE_DENIED: u8 = 4;
    pub const VERIFICATION: u8 = 5;
    pub const FINDINGS: u8 = 6;
    pub const DRIFT: u8 = 7;
}

impl From<warden::Error> for Failure {
    fn from(e: warden::Error) -> Self {
        Failure::from_engine(e)
    }
}
