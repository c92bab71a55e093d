//! CSV records into raw columns, on every core.
//!
//! The input arrives in windows of a few megabytes. Each window is cut into
//! one piece per worker, every cut just after a line feed, and the pieces
//! are parsed at the same time into columns of their own, which are then
//! appended in order to the table's columns.
//!
//! A cut at a line feed may fall inside a quoted field that holds a line
//! break, so each piece is parsed on the guess that its cut starts a
//! record, and the guess is checked before the piece is used: the piece
//! before it, parsed from a start already known to be right, must finish a
//! record at the cut, with nothing but line breaks in between (csv-core
//! skips those at a record's start, so a fresh parser at the cut is then in
//! the state the single pass would be in). A piece whose guess fails is
//! parsed again from where the record before it really ended. The columns,
//! row count, row hashes and the first error are therefore exactly those of
//! one pass from the start, wherever the cuts fall; the tests cut at every
//! byte.
//!
//! No crate splits RFC 4180 input for parallel parsing with a check of
//! this kind; csv-core does the byte-level parsing of every piece.

use std::ops::Range;
use std::sync::mpsc::{Receiver, Sender};

use crate::DataError;
use crate::read::{CsvOptions, EARLY_DECISION_ROWS, EarlyDrop, RawColumn};

/// How the input is split: into windows of `workers × piece_bytes`, each
/// cut into up to `workers` pieces of at least `min_piece_bytes`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Split {
    pub(crate) workers: usize,
    pub(crate) piece_bytes: usize,
    pub(crate) min_piece_bytes: usize,
}

impl Split {
    /// One piece per core, 4 MiB each: large enough that a window's
    /// threads are not the cost, small enough to keep memory flat.
    pub(crate) fn for_cores() -> Self {
        Split {
            workers: crate::pool::workers(),
            piece_bytes: 4 << 20,
            min_piece_bytes: 256 << 10,
        }
    }
}

/// What the table's columns, rows and row hashes came to.
pub(crate) type Parsed = (Vec<RawColumn>, usize, Vec<u64>);

/// Parses CSV from chunks of bytes (an empty chunk marks the end), on
/// `workers` threads. The first record is the header.
///
/// Parsing and appending overlap: while one window's pieces are appended
/// to the table's columns on one thread, the next window is parsed. The
/// pieces of a window are parsed keeping what the table kept when the
/// window began; a column only ever keeps less as it grows (values, then
/// text without a dictionary, then a count), and a piece that kept more
/// appends the same rows.
pub(crate) fn parse_chunks(
    rx: Receiver<Result<Vec<u8>, String>>,
    free: Sender<Vec<u8>>,
    opts: &CsvOptions,
    early: Option<EarlyDrop<'_>>,
    split: Split,
) -> Result<Parsed, DataError> {
    let workers = split.workers.max(1);
    let piece_bytes = split.piece_bytes.max(1);
    let mut input = Input {
        rx,
        free,
        eof: false,
    };
    let mut window: Vec<u8> = Vec::new();
    let mut want = piece_bytes * workers;
    // The header, from as much of the input as it takes.
    let (names, start) = loop {
        input.fill(&mut window, want)?;
        let at = Position {
            data: &window,
            newlines_before: 0,
        };
        let mut tok = Tokenizer::new(opts, true);
        let mut names = Vec::new();
        let step = tok
            .next(&window, input.eof, |text, spans| {
                names = header_names(text, spans)?;
                Ok(())
            })
            .map_err(|e| match e {
                Fail::Header(h) => DataError::Header(h),
                Fail::Record(r) => at.error(0, 0, r, &[]),
            })?;
        match step {
            Step::Record(n) => break (names, n),
            Step::Incomplete => want = window.len() + piece_bytes.min(1 << 20),
            Step::End => {
                return Err(DataError::Header("the file is empty: no header row".into()));
            }
        }
    };
    let ncols = names.len();
    let mut table = Columns::new(names);
    let keep_now = std::sync::Mutex::new(vec![Keep::Values; ncols]);
    let (batches, to_append) = std::sync::mpsc::sync_channel::<Batch>(1);
    let (used_windows, spare_windows) = std::sync::mpsc::channel::<Vec<u8>>();
    let (parsed, appended) = std::thread::scope(|scope| {
        // The appender owns the table and hands it back when the input ends.
        let keep_shared = &keep_now;
        let appender = scope.spawn(move || -> Result<Columns, DataError> {
            let mut newlines_before = 0u64;
            for batch in to_append {
                let at = Position {
                    data: &batch.window,
                    newlines_before,
                };
                for piece in &batch.pieces {
                    table.append(&at, piece, early)?;
                }
                if let Ok(mut k) = keep_shared.lock() {
                    *k = table.keep();
                }
                newlines_before +=
                    memchr::memchr_iter(b'\n', &batch.window[..batch.end]).count() as u64;
                // The parser may have stopped; then the window is dropped.
                let _ = used_windows.send(batch.window);
            }
            Ok(table)
        });
        let parsed = (|| -> Result<(), DataError> {
            let mut start = start;
            loop {
                let keep = keep_now.lock().map_err(|_| poisoned())?.clone();
                let cut = parse_window(&window, start, input.eof, &keep, opts, split)?;
                // The unfinished record moves to a window of its own; this
                // one goes to be appended.
                let mut next = spare_windows.try_recv().unwrap_or_default();
                next.clear();
                next.extend_from_slice(&window[cut.end..]);
                let full = std::mem::replace(&mut window, next);
                let stop = cut.stop;
                let batch = Batch {
                    window: full,
                    end: cut.end,
                    pieces: cut.pieces,
                };
                if batches.send(batch).is_err() {
                    // The appender stopped on an error, which is returned.
                    return Ok(());
                }
                match stop {
                    WindowStop::Failed | WindowStop::Finished => return Ok(()),
                    WindowStop::More if input.eof && window.is_empty() => return Ok(()),
                    WindowStop::More if input.eof => {
                        // csv-core always finishes a record at the end of
                        // the input, so this is a bug.
                        return Err(DataError::Internal(
                            "the last record of the input was left unparsed".into(),
                        ));
                    }
                    WindowStop::More => {}
                }
                start = 0;
                want = (piece_bytes * workers).max(window.len() + piece_bytes.min(1 << 20));
                input.fill(&mut window, want)?;
            }
        })();
        drop(batches);
        let appended = appender
            .join()
            .unwrap_or_else(|_| Err(DataError::Internal("the appending thread failed".into())));
        (parsed, appended)
    });
    // The appender's error concerns earlier input than the parser's.
    let table = appended?;
    parsed?;
    if table.rows == 0 {
        return Err(DataError::Header(
            "the file has a header but no data rows".into(),
        ));
    }
    Ok((table.columns, table.rows, table.row_hashes))
}

fn poisoned() -> DataError {
    DataError::Internal("a parsing thread failed".into())
}

/// The chunks of input as they arrive.
struct Input {
    rx: Receiver<Result<Vec<u8>, String>>,
    free: Sender<Vec<u8>>,
    eof: bool,
}

impl Input {
    /// Adds chunks to `window` until it holds `want` bytes or the input ends.
    fn fill(&mut self, window: &mut Vec<u8>, want: usize) -> Result<(), DataError> {
        while !self.eof && window.len() < want {
            match self.rx.recv() {
                Ok(Ok(buf)) => {
                    self.eof = buf.is_empty();
                    window.extend_from_slice(&buf);
                    // The reader may have stopped; then the buffer is dropped.
                    let _ = self.free.send(buf);
                }
                Ok(Err(e)) => return Err(DataError::Io(format!("reading the input: {e}"))),
                Err(_) => self.eof = true,
            }
        }
        Ok(())
    }
}

/// A window's parsed pieces, on their way to be appended.
struct Batch {
    /// The window's bytes (for the line numbers of errors).
    window: Vec<u8>,
    /// Where the window's last whole record ends.
    end: usize,
    /// The pieces, each starting where the one before really ended.
    pieces: Vec<Piece>,
}

/// How a window's parse ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WindowStop {
    /// Its last record is unfinished (or it ended on a record's end):
    /// more input follows.
    More,
    /// The input ended.
    Finished,
    /// A record was bad: its piece carries the error.
    Failed,
}

/// A window cut into pieces and parsed.
struct Cut {
    pieces: Vec<Piece>,
    /// Where the unfinished record at the window's end begins (or the
    /// window's length).
    end: usize,
    stop: WindowStop,
}

/// The column names from the header record.
fn header_names(text: &str, spans: &[(usize, usize)]) -> Result<Vec<String>, Fail> {
    let mut seen = std::collections::HashMap::new();
    let mut names = Vec::with_capacity(spans.len());
    for (i, &(a, b)) in spans.iter().enumerate() {
        let name = crate::read::trim_ws(&text[a..b]);
        if name.is_empty() {
            return Err(Fail::Header(format!("column {} has an empty name", i + 1)));
        }
        if let Some(j) = seen.insert(name, i) {
            return Err(Fail::Header(format!(
                "duplicate column name {name:?} (columns {} and {})",
                j + 1,
                i + 1
            )));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// A window's bytes and the line feeds before them: turns a byte offset
/// into a line number.
struct Position<'a> {
    data: &'a [u8],
    newlines_before: u64,
}

impl Position<'_> {
    /// The line on which the record whose parse began at `offset` starts:
    /// csv-core skips line breaks before a record, so they are skipped here.
    fn line(&self, offset: usize) -> u64 {
        let rest = self.data.get(offset..).unwrap_or_default();
        let skip = rest
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        let upto = self.data.get(..offset + skip).unwrap_or(self.data);
        1 + self.newlines_before + memchr::memchr_iter(b'\n', upto).count() as u64
    }

    fn error(&self, row: usize, offset: usize, e: RecordError, names: &[String]) -> DataError {
        let column = match e.field {
            Some(i) => names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("#{}", i + 1)),
            None => String::new(),
        };
        DataError::Parse {
            row,
            line: self.line(offset),
            column,
            message: e.message,
        }
    }
}

/// The table's columns as they grow.
struct Columns {
    names: Vec<String>,
    columns: Vec<RawColumn>,
    rows: usize,
    row_hashes: Vec<u64>,
}

/// How a piece keeps a column's values: all of them, as text without a
/// dictionary (the table's column has stopped using one), or only their
/// count (the table's column no longer keeps values).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    Values,
    Plain,
    Count,
}

impl Columns {
    fn new(names: Vec<String>) -> Self {
        Columns {
            columns: names.iter().cloned().map(RawColumn::new).collect(),
            names,
            rows: 0,
            row_hashes: Vec::new(),
        }
    }

    /// What each column keeps now, for the pieces parsed next.
    fn keep(&self) -> Vec<Keep> {
        self.columns
            .iter()
            .map(|c| {
                if c.is_frozen() {
                    Keep::Count
                } else if c.is_plain() {
                    Keep::Plain
                } else {
                    Keep::Values
                }
            })
            .collect()
    }

    /// Appends a piece's rows (up to its error, then returns the error).
    fn append(
        &mut self,
        at: &Position<'_>,
        piece: &Piece,
        early: Option<EarlyDrop<'_>>,
    ) -> Result<(), DataError> {
        let n = piece.row_hashes.len();
        // The early decision is taken right after the row that reaches
        // EARLY_DECISION_ROWS, as one pass would take it.
        let decide_at = match early {
            Some(decide)
                if self.rows < EARLY_DECISION_ROWS && self.rows + n >= EARLY_DECISION_ROWS =>
            {
                Some((EARLY_DECISION_ROWS - self.rows, decide))
            }
            _ => None,
        };
        match decide_at {
            Some((split, decide)) => {
                self.append_rows(at, piece, 0..split)?;
                for col in self.columns.iter_mut() {
                    if decide(col) {
                        col.freeze();
                    }
                }
                self.append_rows(at, piece, split..n)?;
            }
            None => self.append_rows(at, piece, 0..n)?,
        }
        if let Some((offset, e)) = &piece.error {
            // Rows are numbered from 1 after the header.
            return Err(at.error(self.rows + 1, *offset, e.clone(), &self.names));
        }
        Ok(())
    }

    fn append_rows(
        &mut self,
        at: &Position<'_>,
        piece: &Piece,
        rows: Range<usize>,
    ) -> Result<(), DataError> {
        if rows.is_empty() {
            return Ok(());
        }
        let base = self.rows;
        let pairs: Vec<(&mut RawColumn, &RawColumn)> =
            self.columns.iter_mut().zip(&piece.columns).collect();
        let heavy = |(_, src): &(&mut RawColumn, &RawColumn)| src.plain_bytes() + src.len();
        let results = crate::pool::try_map_heaviest_first(
            pairs,
            crate::pool::workers(),
            heavy,
            |(col, src)| -> Result<Option<usize>, DataError> {
                match col.append_rows(src, rows.clone()) {
                    Ok(()) => Ok(None),
                    Err(crate::read::AppendError::TooMuchText(r)) => Ok(Some(r)),
                    Err(crate::read::AppendError::NotKept) => Err(DataError::Internal(format!(
                        "column {} was kept as a count in a piece but not in the table",
                        col.name
                    ))),
                }
            },
        )?;
        // The earliest row at which a column overflowed, if any.
        if let Some((c, r)) = results
            .iter()
            .enumerate()
            .filter_map(|(c, r)| r.map(|r| (c, r)))
            .min_by_key(|&(c, r)| (r, c))
        {
            return Err(DataError::Parse {
                row: base + 1 + r - rows.start,
                line: at.line(piece.starts.get(r).copied().unwrap_or(0)),
                column: self.names.get(c).cloned().unwrap_or_default(),
                message: "the column holds more than 2 GiB of text".into(),
            });
        }
        self.row_hashes
            .extend_from_slice(&piece.row_hashes[rows.clone()]);
        self.rows += rows.len();
        Ok(())
    }
}

/// Parses the records of `data[start..]` in pieces on every core, each
/// piece parsed again from where the one before really ended if its guess
/// was wrong.
fn parse_window(
    data: &[u8],
    start: usize,
    eof: bool,
    keep: &[Keep],
    opts: &CsvOptions,
    split: Split,
) -> Result<Cut, DataError> {
    let workers = split.workers.max(1);
    let cuts = cuts(data, start, workers, split.min_piece_bytes.max(1));
    let ncols = keep.len();
    let parse = |i: usize, from: usize| {
        let target = cuts.get(i + 1).copied();
        parse_piece(data, from, target, eof, ncols, keep, opts)
    };
    let guessed: Vec<Piece> = crate::pool::try_map(
        (0..cuts.len()).collect(),
        workers,
        |i| -> Result<Piece, DataError> { Ok(parse(i, cuts[i])) },
    )?;
    // `from`: where the next record really begins.
    let mut from = start;
    let mut pieces = Vec::with_capacity(guessed.len());
    for (i, piece) in guessed.into_iter().enumerate() {
        let piece = if piece.start == from {
            piece
        } else {
            parse(i, from)
        };
        let stop = piece.stop;
        pieces.push(piece);
        let (end, stop) = match stop {
            Stop::AtCut(next) | Stop::Past(next) => {
                from = next;
                continue;
            }
            Stop::WindowEnd(next) => (next, WindowStop::More),
            Stop::Finished => (data.len(), WindowStop::Finished),
            Stop::Failed if pieces.last().is_some_and(|p| p.error.is_some()) => {
                (from, WindowStop::Failed)
            }
            Stop::Failed => {
                return Err(DataError::Internal(
                    "a failed piece of the input has no error".into(),
                ));
            }
        };
        return Ok(Cut { pieces, end, stop });
    }
    // The last piece has no cut after it, so it always ends above.
    Err(DataError::Internal(
        "the last piece of a window ended at a cut".into(),
    ))
}

/// Where each piece of `data[start..]` begins: `start`, then just after
/// the first line feed at or after each even share of the rest (no piece
/// smaller than `min_piece` bytes).
fn cuts(data: &[u8], start: usize, workers: usize, min_piece: usize) -> Vec<usize> {
    let len = data.len().saturating_sub(start);
    let pieces = (len / min_piece).clamp(1, workers);
    let mut cuts = vec![start];
    for k in 1..pieces {
        let nominal = (start + len * k / pieces).max(cuts[cuts.len() - 1]);
        match memchr::memchr(b'\n', &data[nominal..]) {
            Some(i) if nominal + i + 1 < data.len() => {
                let cut = nominal + i + 1;
                if cut > cuts[cuts.len() - 1] {
                    cuts.push(cut);
                }
            }
            _ => break,
        }
    }
    cuts
}

/// How a piece's parse ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// A record ended at the next piece's cut (or only line breaks lay
    /// between): the next piece's guess holds; the next record begins at
    /// the cut.
    AtCut(usize),
    /// A record ended past the next piece's cut, here: the cut was inside a
    /// record.
    Past(usize),
    /// The record beginning here did not end before the window did.
    WindowEnd(usize),
    /// The input ended.
    Finished,
    /// A record was bad (see the piece's error).
    Failed,
}

/// One piece's records, in columns of its own.
struct Piece {
    start: usize,
    stop: Stop,
    columns: Vec<RawColumn>,
    row_hashes: Vec<u64>,
    /// Where each row's record began, as an offset in the window.
    starts: Vec<usize>,
    /// The first bad record (it follows the piece's rows): where its parse
    /// began, and what was wrong.
    error: Option<(usize, RecordError)>,
}

/// Parses records from `data[start..]` until one ends at or past `target`
/// (the next piece's cut), or, without a target, until the window ends.
fn parse_piece(
    data: &[u8],
    start: usize,
    target: Option<usize>,
    eof: bool,
    ncols: usize,
    keep: &[Keep],
    opts: &CsvOptions,
) -> Piece {
    use std::hash::Hasher as _;
    let mut columns: Vec<RawColumn> = keep
        .iter()
        .map(|k| {
            let mut c = RawColumn::new(String::new());
            match k {
                Keep::Values => {}
                Keep::Plain => c.switch_to_plain(),
                Keep::Count => c.freeze(),
            }
            c
        })
        .collect();
    let mut row_hashes = Vec::new();
    let mut starts = Vec::new();
    let mut tok = Tokenizer::new(opts, false);
    let max_marker = opts.missing.iter().map(String::len).max().unwrap_or(0);
    // First bytes of the missing markers: most fields are ruled out by one lookup.
    let mut marker_start = [false; 256];
    for m in &opts.missing {
        if let Some(b) = m.as_bytes().first() {
            marker_start[usize::from(*b)] = true;
        }
    }
    let mut pos = start;
    let piece = |stop: Stop, error: Option<(usize, RecordError)>, columns, hashes, starts| Piece {
        start,
        stop,
        columns,
        row_hashes: hashes,
        starts,
        error,
    };
    loop {
        if let Some(t) = target {
            if pos > t {
                return piece(Stop::Past(pos), None, columns, row_hashes, starts);
            }
            if data[pos..t].iter().all(|&b| b == b'\n' || b == b'\r') {
                return piece(Stop::AtCut(t), None, columns, row_hashes, starts);
            }
        }
        let step = tok.next(&data[pos..], eof, |text, spans| {
            let nfields = spans.len();
            if nfields != ncols {
                // A blank line reads as one empty field: skip it.
                if nfields == 1 && spans[0].0 == spans[0].1 {
                    return Ok(());
                }
                return Err(Fail::Record(RecordError {
                    field: None,
                    message: format!("has {nfields} fields but the header has {ncols}"),
                }));
            }
            let mut row_hash = rustc_hash::FxHasher::default();
            for (col, &(a, b)) in columns.iter_mut().zip(spans) {
                let f = &text[a..b];
                let missing = f.len() <= max_marker
                    && f.as_bytes()
                        .first()
                        .is_none_or(|b| marker_start[usize::from(*b)])
                    && opts.missing.iter().any(|m| m == f);
                if missing {
                    row_hash.write_u8(0xfe);
                } else {
                    row_hash.write(f.as_bytes());
                    row_hash.write_u8(0xff);
                }
                col.push(if missing { None } else { Some(f) });
            }
            row_hashes.push(row_hash.finish());
            starts.push(pos);
            Ok(())
        });
        match step {
            Ok(Step::Record(n)) => pos += n,
            Ok(Step::Incomplete) => {
                return piece(Stop::WindowEnd(pos), None, columns, row_hashes, starts);
            }
            Ok(Step::End) => return piece(Stop::Finished, None, columns, row_hashes, starts),
            Err(Fail::Record(e)) => {
                return piece(Stop::Failed, Some((pos, e)), columns, row_hashes, starts);
            }
            Err(Fail::Header(h)) => {
                let e = RecordError {
                    field: None,
                    message: h,
                };
                return piece(Stop::Failed, Some((pos, e)), columns, row_hashes, starts);
            }
        }
    }
}

/// What was wrong with a record, before its row and line are known.
#[derive(Clone, Debug)]
pub(crate) struct RecordError {
    /// The field (0-based), when one field is at fault.
    field: Option<usize>,
    message: String,
}

/// Why a record was refused.
enum Fail {
    Record(RecordError),
    Header(String),
}

/// What [`Tokenizer::next`] found.
enum Step {
    /// A record, this many bytes long (with the line breaks before it).
    Record(usize),
    /// The input stopped inside a record.
    Incomplete,
    /// No more records.
    End,
}

/// csv-core's record reader with output buffers bounded by the options,
/// and each record checked (UTF-8, no NUL, field lengths) before it is
/// handed out.
struct Tokenizer<'o> {
    rdr: csv_core::Reader,
    /// Nothing read yet from the start of the file: csv-core handles the
    /// first record (and its byte order mark).
    at_file_start: bool,
    out: Vec<u8>,
    ends: Vec<usize>,
    /// Field ranges of the record being checked.
    ranges: Vec<(usize, usize)>,
    spans: Vec<(usize, usize)>,
    opts: &'o CsvOptions,
    max_out: usize,
    /// Whether quote-free lines are split without csv-core (always, but
    /// for the tests that compare the two).
    fast: bool,
}

impl<'o> Tokenizer<'o> {
    /// A tokenizer for records from the start of the file (`at_file_start`,
    /// where csv-core strips a UTF-8 byte order mark) or from a later
    /// record boundary (where a byte order mark is a field's text).
    fn new(opts: &'o CsvOptions, at_file_start: bool) -> Self {
        let mut rdr = csv_core::ReaderBuilder::new()
            .delimiter(opts.delimiter)
            .build();
        if !at_file_start {
            // One line break, skipped at a record's start, marks the reader
            // as having read, so it strips no byte order mark.
            let _ = rdr.read_record(b"\n", &mut [], &mut []);
        }
        Tokenizer {
            rdr,
            at_file_start,
            out: vec![0u8; 64 * 1024],
            ends: vec![0usize; 64],
            ranges: Vec::new(),
            spans: Vec::new(),
            opts,
            max_out: opts.max_field_bytes.saturating_mul(4).max(1 << 20),
            fast: true,
        }
    }

    /// Reads one record from the start of `input` and hands its text and
    /// field spans to `f`. With `eof`, `input` is the rest of the file.
    /// After [`Step::Incomplete`] the tokenizer is in the middle of a
    /// record and must not be used again.
    fn next(
        &mut self,
        input: &[u8],
        eof: bool,
        f: impl FnOnce(&str, &[(usize, usize)]) -> Result<(), Fail>,
    ) -> Result<Step, Fail> {
        let opts = self.opts;
        if self.fast
            && !self.at_file_start
            && let Some(n) = self.quote_free(input)
        {
            // The record must be whole: with the line break found, it is.
            let text = check_record(&input[..n], &self.ranges, opts, &mut self.spans)?;
            f(text, &self.spans)?;
            // csv-core's state after its last record (or after priming)
            // skips the line breaks before a record as a fresh one does.
            return Ok(Step::Record(n));
        }
        let (mut pos, mut outlen, mut endlen) = (0usize, 0usize, 0usize);
        loop {
            let chunk = &input[pos..];
            if chunk.is_empty() && !eof {
                // An empty input means the end to csv-core: ask for more.
                return Ok(Step::Incomplete);
            }
            let (res, nin, nout, nend) =
                self.rdr
                    .read_record(chunk, &mut self.out[outlen..], &mut self.ends[endlen..]);
            pos += nin;
            // csv-core writes field ends as offsets from the start of the
            // record, across calls, so they index `out` directly.
            outlen += nout;
            endlen += nend;
            match res {
                csv_core::ReadRecordResult::InputEmpty => {
                    if !eof {
                        return Ok(Step::Incomplete);
                    }
                    if chunk.is_empty() {
                        // csv-core ends on an empty input; never loop on it.
                        return Ok(Step::End);
                    }
                }
                csv_core::ReadRecordResult::OutputFull => {
                    let field_start = if endlen == 0 {
                        0
                    } else {
                        self.ends[endlen - 1]
                    };
                    if outlen - field_start >= opts.max_field_bytes {
                        return Err(Fail::Record(field_too_long(Some(endlen), opts)));
                    }
                    if self.out.len() >= self.max_out {
                        return Err(Fail::Record(RecordError {
                            field: None,
                            message: format!("record is longer than {} bytes", self.max_out),
                        }));
                    }
                    let grown = (self.out.len() * 2).min(self.max_out);
                    self.out.resize(grown, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    if self.ends.len() >= opts.max_columns {
                        return Err(Fail::Record(RecordError {
                            field: None,
                            message: format!("more than {} fields in one record", opts.max_columns),
                        }));
                    }
                    let grown = (self.ends.len() * 2).min(opts.max_columns);
                    self.ends.resize(grown, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    self.ranges.clear();
                    let mut start = 0;
                    for &end in &self.ends[..endlen] {
                        self.ranges.push((start, end));
                        start = end;
                    }
                    let text =
                        check_record(&self.out[..outlen], &self.ranges, opts, &mut self.spans)?;
                    f(text, &self.spans)?;
                    self.at_file_start = false;
                    return Ok(Step::Record(pos));
                }
                csv_core::ReadRecordResult::End => return Ok(Step::End),
            }
        }
    }

    /// A record on one line with no quote and no carriage return inside:
    /// its fields' ranges in `input` (in `self.ranges`) and the bytes it
    /// takes with the line breaks before it; `None` for any other record,
    /// which csv-core then reads. csv-core reads such a line the same way:
    /// it skips line breaks before a record, and a field without quotes
    /// ends only at a delimiter or a line break.
    fn quote_free(&mut self, input: &[u8]) -> Option<usize> {
        let delimiter = self.opts.delimiter;
        if matches!(delimiter, b'"' | b'\n' | b'\r') {
            return None;
        }
        let skip = input
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        let rest = &input[skip..];
        // Longer lines go to csv-core, so that its limits give the errors.
        let window = &rest[..rest.len().min(QUOTE_FREE_MAX_LINE + 1)];
        let nl = memchr::memchr(b'\n', window)?;
        let line = &rest[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if memchr::memchr2(b'"', b'\r', line).is_some() {
            return None;
        }
        self.ranges.clear();
        let mut from = skip;
        for at in memchr::memchr_iter(delimiter, line) {
            self.ranges.push((from, skip + at));
            from = skip + at + 1;
        }
        self.ranges.push((from, skip + line.len()));
        if self.ranges.len() > self.opts.max_columns {
            return None;
        }
        Some(skip + nl + 1)
    }
}

/// Longest line [`Tokenizer::quote_free`] splits itself (csv-core's
/// output buffer starts larger, so it never fills on such a line).
const QUOTE_FREE_MAX_LINE: usize = 1 << 14;

/// Checks a record (the fields at `ranges` of `bytes`) and sets its field
/// spans, trimmed if asked; returns `bytes` as text.
fn check_record<'b>(
    bytes: &'b [u8],
    ranges: &[(usize, usize)],
    opts: &CsvOptions,
    spans: &mut Vec<(usize, usize)>,
) -> Result<&'b str, Fail> {
    let field_of = |at: usize| {
        let i = ranges.iter().position(|&(_, end)| end > at).unwrap_or(0);
        (i, at.saturating_sub(ranges.get(i).map_or(0, |r| r.0)))
    };
    // The whole record is validated once; csv-core's output has no
    // delimiters between fields, so a character split by a delimiter
    // (`\xc3,\xa9`) reads as valid there: each field must also start and
    // end on a character boundary.
    let invalid = |i: usize, at: usize| {
        Fail::Record(RecordError {
            field: Some(i),
            message: format!("invalid UTF-8 at byte {at} of the field"),
        })
    };
    // Either way the error names the first field that is not UTF-8 on its
    // own, and where in it, whichever path read the record.
    let first_invalid = || {
        ranges
            .iter()
            .enumerate()
            .find_map(|(i, &(a, b))| {
                std::str::from_utf8(&bytes[a..b])
                    .err()
                    .map(|e| invalid(i, e.valid_up_to()))
            })
            .unwrap_or_else(|| invalid(0, 0))
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(first_invalid());
    };
    if ranges
        .iter()
        .any(|&(a, b)| !text.is_char_boundary(a) || !text.is_char_boundary(b))
    {
        return Err(first_invalid());
    }
    // A NUL byte ends the string in many tools that will read the stored
    // table; refuse it rather than store it.
    if let Some(at) = memchr::memchr(0, bytes) {
        let (i, at) = field_of(at);
        return Err(Fail::Record(RecordError {
            field: Some(i),
            message: format!("a NUL byte at byte {at} of the field; remove it from the source"),
        }));
    }
    spans.clear();
    for (i, &(mut a, mut b)) in ranges.iter().enumerate() {
        if opts.trim {
            let raw = &text[a..b];
            let t = crate::read::trim_ws(raw);
            a += raw.len() - raw.trim_start_matches([' ', '\t']).len();
            b = a + t.len();
        }
        if b - a > opts.max_field_bytes {
            return Err(Fail::Record(field_too_long(Some(i), opts)));
        }
        spans.push((a, b));
    }
    Ok(text)
}

fn field_too_long(field: Option<usize>, opts: &CsvOptions) -> RecordError {
    RecordError {
        field,
        message: format!(
            "field is longer than {} bytes (the limit; raise it with --max-field-bytes)",
            opts.max_field_bytes
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `input` handed over in chunks of `chunk` bytes.
    fn parse(
        input: &[u8],
        chunk: usize,
        split: Split,
        opts: &CsvOptions,
        early: Option<EarlyDrop<'_>>,
    ) -> Result<Parsed, DataError> {
        let (tx, rx) = std::sync::mpsc::channel();
        for c in input.chunks(chunk.max(1)) {
            tx.send(Ok(c.to_vec())).unwrap();
        }
        tx.send(Ok(Vec::new())).unwrap();
        let (free, _returned) = std::sync::mpsc::channel();
        parse_chunks(rx, free, opts, early, split)
    }

    /// A column as values and storage decisions.
    type Seen = (bool, bool, usize, Vec<Option<String>>);

    /// What a parse gave, comparable: every column's storage decisions and
    /// values, the row count and hashes, or the error's text.
    fn outcome(r: Result<Parsed, DataError>) -> Result<(Vec<Seen>, usize, Vec<u64>), String> {
        let (columns, rows, hashes) = r.map_err(|e| e.to_string())?;
        let cols = columns
            .iter()
            .map(|c| {
                let values = (0..c.len()).map(|r| c.get(r).map(str::to_string)).collect();
                (c.is_frozen(), c.is_plain(), c.len(), values)
            })
            .collect();
        Ok((cols, rows, hashes))
    }

    /// One pass from the start, in one piece: the reference.
    fn single(
        input: &[u8],
        opts: &CsvOptions,
        early: Option<EarlyDrop<'_>>,
    ) -> Result<(Vec<Seen>, usize, Vec<u64>), String> {
        let whole = Split {
            workers: 1,
            piece_bytes: usize::MAX / 4,
            min_piece_bytes: usize::MAX / 4,
        };
        outcome(parse(input, input.len().max(1), whole, opts, early))
    }

    const TRICKY: &str = "id,text,n\r\n1,\"two\nlines\",3\r\n\r\n2,\"a \"\"quoted\"\"\nand, more\n\",4\n3,plain \"inner\" quote,5\r4,x,\n\n\n5,\"\n\n\",6\n6,\"ends\nquoted\",7\n\u{feff}7,bom,8\n";

    #[test]
    fn cutting_anywhere_gives_the_single_pass() {
        let opts = CsvOptions::default();
        let want = single(TRICKY.as_bytes(), &opts, None);
        let (cols, rows, _) = want.clone().unwrap();
        assert_eq!(rows, 7);
        // A byte order mark is stripped at the file's start only.
        assert_eq!(cols[0].3[6].as_deref(), Some("\u{feff}7"));
        assert_eq!(cols[1].3[1].as_deref(), Some("a \"quoted\"\nand, more\n"));
        assert_eq!(cols[1].3[5].as_deref(), Some("ends\nquoted"));
        assert_eq!(cols[2].3[3], None);
        for piece in 1..=TRICKY.len() {
            for workers in [2, 3] {
                for chunk in [1, 5, TRICKY.len()] {
                    let split = Split {
                        workers,
                        piece_bytes: piece,
                        min_piece_bytes: 1,
                    };
                    let got = outcome(parse(TRICKY.as_bytes(), chunk, split, &opts, None));
                    assert_eq!(got, want, "piece {piece}, {workers} workers, chunk {chunk}");
                }
            }
        }
    }

    #[test]
    fn errors_are_the_single_pass_errors() {
        let opts = CsvOptions::default();
        for bad in [
            "a,b\n1,2\n\"3\n4\",5\n6\n7,8\n",
            "a,b\n1,2\n3,4\n5,x\0y\n",
            "a,b\r\n1,2\r\n\r\n3\r\n",
        ] {
            let want = single(bad.as_bytes(), &opts, None);
            assert!(want.is_err(), "{bad:?}");
            for piece in 1..=bad.len() {
                let split = Split {
                    workers: 2,
                    piece_bytes: piece,
                    min_piece_bytes: 1,
                };
                let got = outcome(parse(bad.as_bytes(), 3, split, &opts, None));
                assert_eq!(got, want, "{bad:?}, piece {piece}");
            }
        }
        let e = single(b"a,b\n1,2\n\"3\n4\",5\n6\n7,8\n", &opts, None).unwrap_err();
        assert!(e.contains("row 3 (line 5)"), "{e}");
    }

    #[test]
    fn the_early_decision_and_storage_do_not_depend_on_the_cuts() {
        // Past EARLY_DECISION_ROWS, with a column that is set aside early,
        // one that goes plain early (mostly distinct) and one that keeps its
        // dictionary.
        let mut s = String::from("drop,uniq,cat,note\n");
        for i in 0..(EARLY_DECISION_ROWS + 3000) {
            let note = if i % 97 == 0 { "\"two\nlines\"" } else { "n" };
            s.push_str(&format!("d{i},u{i},c{},{note}\n", i % 7));
        }
        let early = |c: &RawColumn| c.name == "drop";
        let opts = CsvOptions::default();
        let want = single(s.as_bytes(), &opts, Some(&early)).unwrap();
        assert!(want.0[0].0, "drop is frozen");
        assert_eq!(want.0[0].2, EARLY_DECISION_ROWS + 3000);
        assert!(want.0[1].1 && !want.0[2].1, "uniq plain, cat a dictionary");
        for (piece, workers) in [(1000, 2), (4099, 3), (65_536, 2), (97, 4)] {
            let split = Split {
                workers,
                piece_bytes: piece,
                min_piece_bytes: 1,
            };
            let got = outcome(parse(s.as_bytes(), 8192, split, &opts, Some(&early))).unwrap();
            assert!(got == want, "piece {piece}, {workers} workers");
        }
    }

    /// Every record of `input`, as fields, with where it ends, read with
    /// or without the quote-free split; or the first error.
    fn records(
        input: &[u8],
        opts: &CsvOptions,
        fast: bool,
    ) -> Vec<Result<(usize, Vec<String>), String>> {
        let mut tok = Tokenizer::new(opts, true);
        tok.fast = fast;
        let mut pos = 0;
        let mut out = Vec::new();
        loop {
            let mut fields = Vec::new();
            let step = tok.next(&input[pos..], true, |text, spans| {
                fields = spans.iter().map(|&(a, b)| text[a..b].to_string()).collect();
                Ok(())
            });
            match step {
                Ok(Step::Record(n)) => {
                    pos += n;
                    out.push(Ok((pos, fields)));
                }
                Ok(Step::End) | Ok(Step::Incomplete) => return out,
                Err(Fail::Record(e)) => {
                    out.push(Err(format!("{:?} {}", e.field, e.message)));
                    return out;
                }
                Err(Fail::Header(h)) => {
                    out.push(Err(h));
                    return out;
                }
            }
        }
    }

    /// Record ends may differ by the `\n` of a `\r\n` (csv-core leaves it
    /// for the next record); the records and errors may not.
    fn same_records(
        a: &[Result<(usize, Vec<String>), String>],
        b: &[Result<(usize, Vec<String>), String>],
        input: &[u8],
    ) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| match (x, y) {
                (Ok((p, f)), Ok((q, g))) => {
                    f == g
                        && input[*p.min(q)..*p.max(q)].iter().all(|&c| c == b'\n')
                        && p.abs_diff(*q) <= 1
                }
                (Err(e), Err(g)) => e == g,
                _ => false,
            })
    }

    #[test]
    fn a_character_split_by_a_delimiter_is_invalid_utf8_not_a_panic() {
        let opts = CsvOptions::default();
        // In the header, in a quoted record (csv-core's path) and in a
        // quote-free one: `\xc3\xa9` is `é`, cut in two by the delimiter.
        for bad in [
            &b"\xc3,\xa9\n1,2\n"[..],
            b"a,b\n\"\xc3\",\xa9\n",
            b"a,b\n\xc3,\xa9\n",
        ] {
            let e = single(bad, &opts, None).unwrap_err();
            assert!(e.contains("invalid UTF-8"), "{bad:?}: {e}");
        }
        let e = single(b"a,b\n\"\xc3\",\xa9\n", &opts, None).unwrap_err();
        assert!(e.contains("row 1") && e.contains("column a"), "{e}");
    }

    #[test]
    fn quote_free_lines_split_as_csv_core_splits_them() {
        let opts = CsvOptions::default();
        let input = b"a,b,c\r\n1,,3\n\n\r\n x , y ,z\r\n\"q\",2,3\n4,5\r6\n7,8,\xff\n";
        let fast = records(input, &opts, true);
        let slow = records(input, &opts, false);
        assert!(same_records(&fast, &slow, input), "{fast:?}\n{slow:?}");
        assert_eq!(fast.len(), 7, "{fast:?}");
        // The split is taken where it applies, and only there.
        let mut tok = Tokenizer::new(&opts, false);
        assert_eq!(tok.quote_free(b"\r\n1,,3\r\nrest"), Some(8));
        assert_eq!(tok.ranges, [(2, 3), (4, 4), (5, 6)]);
        assert_eq!(tok.quote_free(b"1,\"2\"\n"), None);
        assert_eq!(tok.quote_free(b"1,2\r3\n"), None);
        assert_eq!(tok.quote_free(b"1,2"), None);
    }

    proptest::proptest! {
        #[test]
        fn the_quote_free_split_agrees_with_csv_core(
            body in proptest::collection::vec(proptest::sample::select(
                vec![b'a', b'b', b',', b';', b'"', b'\n', b'\n', b'\r', b' ', b'\t', 0u8, 0xc3, 0xa9]), 0..300),
            trim in proptest::prelude::any::<bool>(),
            semicolon in proptest::prelude::any::<bool>(),
            max_field_bytes in 1usize..12,
            max_columns in 1usize..6,
        ) {
            let opts = CsvOptions {
                trim,
                delimiter: if semicolon { b';' } else { b',' },
                max_field_bytes,
                max_columns,
                ..Default::default()
            };
            let fast = records(&body, &opts, true);
            let slow = records(&body, &opts, false);
            proptest::prop_assert!(same_records(&fast, &slow, &body), "{:?}\n{:?}", fast, slow);
        }

        #[test]
        fn any_input_parses_alike_however_it_is_cut(
            body in proptest::collection::vec(proptest::sample::select(
                vec![b'a', b'b', b',', b'"', b'\n', b'\r', b' ', b'1', 0u8, 0xff]), 0..200),
            piece in 1usize..64,
            workers in 1usize..5,
            chunk in 1usize..40,
            trim in proptest::prelude::any::<bool>(),
        ) {
            let mut input = b"x,y\n".to_vec();
            input.extend(body);
            let opts = CsvOptions { trim, max_field_bytes: 16, ..Default::default() };
            let want = single(&input, &opts, None);
            let split = Split { workers, piece_bytes: piece, min_piece_bytes: 1 };
            let got = outcome(parse(&input, chunk, split, &opts, None));
            proptest::prop_assert_eq!(got, want);
        }
    }
}
