//! CSV (RFC 4180) into a typed [`Table`], in bounded memory.
//!
//! Parsing uses `csv-core`, which hands out fields into buffers this module
//! owns, so a field or record larger than the configured limit is refused
//! before it is buffered (the `csv` crate grows its record buffer without
//! bound). Values are kept per column, dictionary-encoded while a column has
//! few distinct values; types are inferred (or taken from a schema) once the
//! whole file is read, and each column is converted in turn.

use std::collections::HashMap;
use std::io::Read;

use rustc_hash::FxHashMap;

use crate::table::{Column, ColumnData, ColumnType, Table, parse_date};
use crate::{DataError, Hasher};

/// How to read a CSV file.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    /// The field separator, one byte; `,` by default.
    pub delimiter: u8,
    /// Trim leading and trailing spaces and tabs from every field.
    pub trim: bool,
    /// Field values that mean "missing" (compared after trimming).
    pub missing: Vec<String>,
    /// Longest field accepted, in bytes.
    pub max_field_bytes: usize,
    /// Most columns accepted.
    pub max_columns: usize,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            trim: false,
            missing: ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            max_field_bytes: 1 << 20,
            max_columns: 10_000,
        }
    }
}

/// Column values as read, before typing.
pub(crate) struct RawColumn {
    pub(crate) name: String,
    /// Dictionary mode: distinct values and per-row codes (`u32::MAX` = missing).
    dict: FxHashMap<Box<str>, u32>,
    values: Vec<Box<str>>,
    codes: Vec<u32>,
    /// Plain mode (too many distinct values): every value in one buffer.
    plain: Option<Plain>,
    /// Rows seen after the column was frozen (values no longer kept).
    frozen_rows: Option<usize>,
}

struct Plain {
    buf: String,
    /// End offset of each value in `buf`, with [`MISSING_BIT`] set for a
    /// missing value (so a column holds at most 2 GiB of text).
    ends: Vec<u32>,
}

/// Marks a missing value in plain storage.
const MISSING_BIT: u32 = 1 << 31;
/// Most text one column may hold.
const MAX_COLUMN_TEXT: usize = (MISSING_BIT - 1) as usize;

const NULL: u32 = u32::MAX;
/// Past this many distinct values a column switches to plain storage.
const DICT_LIMIT: usize = 1 << 16;
/// After this many rows, a column with more than half its values distinct
/// switches to plain storage.
const EARLY_CHECK: usize = 4096;

impl RawColumn {
    pub(crate) fn new(name: String) -> Self {
        RawColumn {
            name,
            dict: FxHashMap::default(),
            values: Vec::new(),
            codes: Vec::new(),
            plain: None,
            frozen_rows: None,
        }
    }

    /// Stops keeping values: the column will be dropped, and only its first
    /// rows (the detection sample) are kept for the report.
    pub(crate) fn freeze(&mut self) {
        self.frozen_rows = Some(0);
    }

    pub(crate) fn push(&mut self, v: Option<&str>) {
        if let Some(n) = &mut self.frozen_rows {
            *n += 1;
            return;
        }
        if let Some(p) = &mut self.plain {
            p.buf.push_str(v.unwrap_or(""));
            // `parse_chunks` keeps the column below MAX_COLUMN_TEXT.
            let end = p.buf.len() as u32;
            p.ends
                .push(if v.is_none() { end | MISSING_BIT } else { end });
            return;
        }
        let Some(v) = v else {
            self.push_code(NULL);
            return;
        };
        if let Some(&c) = self.dict.get(v) {
            self.push_code(c);
            return;
        }
        if self.values.len() >= DICT_LIMIT {
            self.switch_to_plain();
            self.push(Some(v));
            return;
        }
        let c = self.values.len() as u32;
        self.values.push(v.into());
        self.dict.insert(v.into(), c);
        self.push_code(c);
    }

    /// Adds a row by its dictionary code (or [`NULL`]).
    fn push_code(&mut self, c: u32) {
        self.codes.push(c);
        // Mostly-unique columns (names, amounts, ids) gain nothing from a
        // dictionary: once the first rows hold more distinct values than
        // repeats, switch to plain storage. Like the dictionary limit, this
        // depends only on the values, not on how the input was split.
        if self.codes.len() == EARLY_CHECK && self.values.len() * 2 > EARLY_CHECK {
            self.switch_to_plain();
        }
    }

    /// Appends rows `rows` of `src`, a column of the same name parsed from
    /// a later piece of the input, as if each value were pushed in turn.
    pub(crate) fn append_rows(
        &mut self,
        src: &RawColumn,
        rows: std::ops::Range<usize>,
    ) -> Result<(), AppendError> {
        if let Some(n) = &mut self.frozen_rows {
            *n += rows.len();
            return Ok(());
        }
        if src.is_frozen() {
            return Err(AppendError::NotKept);
        }
        if rows.is_empty() {
            return Ok(());
        }
        if let (Some(p), Some(sp)) = (&mut self.plain, &src.plain) {
            // Plain into plain: the text at once, the ends moved.
            let start = |r: usize| {
                if r == 0 {
                    0
                } else {
                    (sp.ends[r - 1] & !MISSING_BIT) as usize
                }
            };
            let (a, b) = (start(rows.start), start(rows.end));
            if p.buf.len() + (b - a) >= MAX_COLUMN_TEXT {
                let over = rows
                    .clone()
                    .find(|&r| p.buf.len() + start(r + 1) - a >= MAX_COLUMN_TEXT)
                    .unwrap_or(rows.start);
                return Err(AppendError::TooMuchText(over));
            }
            let base = p.buf.len();
            p.buf.push_str(&sp.buf[a..b]);
            p.ends.extend(sp.ends[rows].iter().map(|&e| {
                // Below MAX_COLUMN_TEXT, checked above.
                let end = ((e & !MISSING_BIT) as usize - a + base) as u32;
                end | (e & MISSING_BIT)
            }));
            return Ok(());
        }
        // Value by value; a dictionary code of `src` already looked up
        // here is remembered while this column keeps its dictionary.
        let mut seen = vec![
            NULL;
            if src.plain.is_none() {
                src.values.len()
            } else {
                0
            }
        ];
        for r in rows {
            let code = if src.plain.is_none() {
                src.codes[r]
            } else {
                NULL
            };
            if self.plain.is_none() && code != NULL && seen[code as usize] != NULL {
                self.push_code(seen[code as usize]);
                continue;
            }
            let v = src.get(r);
            if self.plain_bytes() + v.map_or(0, str::len) >= MAX_COLUMN_TEXT {
                return Err(AppendError::TooMuchText(r));
            }
            self.push(v);
            if self.plain.is_none()
                && code != NULL
                && let Some(&c) = self.codes.last()
            {
                seen[code as usize] = c;
            }
        }
        Ok(())
    }

    /// Whether the column keeps its values without a dictionary.
    /// A dictionary-encoded column as a categorical one whose levels are
    /// its distinct values in first-seen order (not sorted): for work done
    /// once per distinct value. `None` for plain or frozen columns.
    pub(crate) fn as_levels(&self) -> Option<ColumnData> {
        if self.plain.is_some() || self.frozen_rows.is_some() {
            return None;
        }
        Some(ColumnData::Categorical {
            codes: self
                .codes
                .iter()
                .map(|&c| {
                    if c == NULL {
                        crate::table::MISSING_CODE
                    } else {
                        c
                    }
                })
                .collect(),
            levels: self.values.iter().map(|v| v.to_string()).collect(),
        })
    }

    pub(crate) fn is_plain(&self) -> bool {
        self.plain.is_some()
    }

    pub(crate) fn switch_to_plain(&mut self) {
        let mut p = Plain {
            buf: String::new(),
            ends: Vec::with_capacity(self.codes.len() * 2),
        };
        for &c in &self.codes {
            if c == NULL {
                p.ends.push(p.buf.len() as u32 | MISSING_BIT);
            } else {
                p.buf.push_str(&self.values[c as usize]);
                p.ends.push(p.buf.len() as u32);
            }
        }
        self.plain = Some(p);
        self.dict = FxHashMap::default();
        self.values = Vec::new();
        self.codes = Vec::new();
    }

    /// Bytes of text held in plain storage.
    pub(crate) fn plain_bytes(&self) -> usize {
        self.plain.as_ref().map_or(0, |p| p.buf.len())
    }

    /// Rows whose values are kept.
    fn stored_len(&self) -> usize {
        match &self.plain {
            Some(p) => p.ends.len(),
            None => self.codes.len(),
        }
    }

    /// Whether the column stopped keeping values (see [`RawColumn::freeze`]).
    pub(crate) fn is_frozen(&self) -> bool {
        self.frozen_rows.is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.stored_len() + self.frozen_rows.unwrap_or(0)
    }

    /// The value at `row` (`None` past the kept rows of a frozen column).
    pub(crate) fn get(&self, row: usize) -> Option<&str> {
        if row >= self.stored_len() {
            return None;
        }
        match &self.plain {
            Some(p) => {
                let end = p.ends[row];
                if end & MISSING_BIT != 0 {
                    return None;
                }
                let start = if row == 0 {
                    0
                } else {
                    (p.ends[row - 1] & !MISSING_BIT) as usize
                };
                Some(&p.buf[start..end as usize])
            }
            None => match self.codes[row] {
                NULL => None,
                c => Some(&self.values[c as usize]),
            },
        }
    }

    /// Values to inspect for PII, as (value, count) pairs: every distinct
    /// value with its count for dictionary columns; for plain columns every
    /// value, or `limit` of them spread evenly over the column.
    pub(crate) fn value_counts(&self, limit: Option<usize>) -> Vec<(&str, usize)> {
        match &self.plain {
            None => {
                let mut counts = vec![0usize; self.values.len()];
                for &c in &self.codes {
                    if c != NULL {
                        counts[c as usize] += 1;
                    }
                }
                self.values
                    .iter()
                    .map(|v| &**v)
                    .zip(counts)
                    .filter(|(_, n)| *n > 0)
                    .collect()
            }
            Some(_) => {
                let n = self.stored_len();
                match limit {
                    Some(k) if n > k => (0..k)
                        .filter_map(|i| self.get(i * n / k).map(|v| (v, 1)))
                        .collect(),
                    _ => (0..n).filter_map(|r| self.get(r).map(|v| (v, 1))).collect(),
                }
            }
        }
    }

    /// Distinct non-missing values, when the column is dictionary-encoded.
    fn distinct(&self) -> Option<&[Box<str>]> {
        self.plain.is_none().then_some(self.values.as_slice())
    }

    /// Every non-missing value to inspect for type inference: the
    /// dictionary when there is one, else all values.
    fn candidates(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self.distinct() {
            Some(d) => Box::new(d.iter().map(|s| &**s)),
            None => Box::new((0..self.stored_len()).filter_map(|r| self.get(r))),
        }
    }

    fn non_null(&self) -> usize {
        (0..self.stored_len())
            .filter(|&r| self.get(r).is_some())
            .count()
    }
}

/// Why rows could not be appended to a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppendError {
    /// The column would hold more than 2 GiB of text from this row (of
    /// the source) on.
    TooMuchText(usize),
    /// The source kept only a count, but this column keeps values.
    NotKept,
}

/// What was read: the raw columns and the digest of the bytes.
pub(crate) struct RawTable {
    pub(crate) columns: Vec<RawColumn>,
    pub(crate) rows: usize,
    /// A 64-bit hash of every data row's values, for duplicate counting.
    pub(crate) row_hashes: Vec<u64>,
    /// The bytes' digest; `None` when read with [`Hashing::Off`].
    source_digest: Option<warden_core::Digest>,
    pub(crate) source_bytes: u64,
}

impl RawTable {
    /// The digest of the bytes read.
    pub(crate) fn source_digest(&self) -> Result<warden_core::Digest, DataError> {
        self.source_digest
            .ok_or_else(|| DataError::Internal("the input was read without its digest".into()))
    }
}

/// Whether the reader hashes the input as it reads it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hashing {
    /// SHA-256 of every byte, for [`RawTable::source_digest`].
    On,
    /// No digest: for readers that compare data and record nothing of the
    /// file (drift), hashing would be a tenth of their work.
    Off,
}

/// The field without leading and trailing spaces and tabs.
pub(crate) fn trim_ws(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Reads CSV from `input`, hashing every byte. The first record is the header.
///
/// A second thread reads and hashes the input while this one parses.
pub(crate) fn read_raw(
    input: &mut (dyn Read + Send),
    opts: &CsvOptions,
) -> Result<RawTable, DataError> {
    read_raw_with(input, opts, None, Hashing::On)
}

/// Decides, from a column's first rows, whether its values can stop being
/// kept (because it will be dropped).
pub(crate) type EarlyDrop<'a> = &'a (dyn Fn(&RawColumn) -> bool + Sync);

/// Rows read before an [`EarlyDrop`] is asked.
pub(crate) const EARLY_DECISION_ROWS: usize = 20_000;

/// [`read_raw`], asking `early` after [`EARLY_DECISION_ROWS`] rows which
/// columns to stop keeping, hashing the input or not.
pub(crate) fn read_raw_with(
    input: &mut (dyn Read + Send),
    opts: &CsvOptions,
    early: Option<EarlyDrop<'_>>,
    hashing: Hashing,
) -> Result<RawTable, DataError> {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<u8>, String>>(16);
        // Parsed chunks come back to be filled again, so the input is read
        // through a few buffers instead of a fresh megabyte per chunk.
        let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let producer = scope.spawn(move || {
            let mut hasher = Hasher::new();
            let mut total = 0u64;
            loop {
                let mut buf = free_rx.try_recv().unwrap_or_default();
                buf.resize(1 << 20, 0);
                let n = match read_full(input, &mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        break;
                    }
                };
                buf.truncate(n);
                if hashing == Hashing::On {
                    hasher.update(&buf);
                }
                total += n as u64;
                if tx.send(Ok(buf)).is_err() || n == 0 {
                    break;
                }
            }
            ((hashing == Hashing::On).then(|| hasher.finish()), total)
        });
        let parsed = crate::records::parse_chunks(
            rx,
            free_tx,
            opts,
            early,
            crate::records::Split::for_cores(),
        );
        let (source_digest, source_bytes) = producer
            .join()
            .map_err(|_| DataError::Internal("the input reader thread failed".into()))?;
        let (columns, rows, row_hashes) = parsed?;
        Ok(RawTable {
            columns,
            rows,
            row_hashes,
            source_digest,
            source_bytes,
        })
    })
}

/// Fills `buf` unless the input ends first; returns the bytes read.
fn read_full(input: &mut (dyn Read + Send), buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Strict integer syntax: optional `-`, digits, no leading zeros (so codes
/// such as `007` stay text and survive a round trip).
fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// A decimal that a float keeps exactly: the stored `f64` must stand for
/// the same number the text wrote, so nothing is silently rounded
/// (`4088002734199108369` would be stored as `4088002734199108600`), and
/// codes with leading zeros (`007`, `00.5`) stay text like integer codes.
fn parse_float(s: &str) -> Option<f64> {
    // One pass over the bytes checks the syntax (sign, digits, one point,
    // exponent), the leading-zero rule and counts the mantissa's digits.
    let b = s.as_bytes();
    // A run of digits from `i`, folded onto `m` (meaningful while there
    // are at most 19 digits in all): where it ends, and the new `m`.
    let digits_from = |mut i: usize, mut m: u64| {
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            m = m.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
        }
        (i, m)
    };
    let digit_run = |i: usize| digits_from(i, 0).0;
    let int_start = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let (mut i, mut mantissa) = digits_from(int_start, 0);
    if i - int_start > 1 && b[int_start] == b'0' {
        return None;
    }
    let mut digits = i - int_start;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        let frac_start = i + 1;
        (i, mantissa) = digits_from(frac_start, mantissa);
        digits += i - frac_start;
        frac_digits = i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    // The common case, a plain decimal of at most 15 digits: the integer
    // and the power of ten are exact doubles, so one division is the
    // correctly rounded value (Clinger's fast path), and 15 digits always
    // round-trip. Everything else goes through the full parser below.
    if i == b.len() && digits <= 15 && frac_digits < POW10.len() {
        let x = mantissa as f64 / POW10[frac_digits];
        return Some(if b.first() == Some(&b'-') { -x } else { x });
    }
    let nonzero = b
        .iter()
        .take_while(|c| !matches!(c, b'e' | b'E'))
        .any(|c| matches!(c, b'1'..=b'9'));
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp_start = i;
        i = digit_run(exp_start);
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    let x = s.parse::<f64>().ok().filter(|x| x.is_finite())?;
    // A nonzero text read as zero underflowed: not kept.
    if x == 0.0 {
        return (!nonzero).then_some(x);
    }
    // Any decimal of at most 15 significant digits is kept by a normal
    // f64; subnormals and longer texts are compared digit by digit.
    if digits <= 15 && x.abs() >= f64::MIN_POSITIVE {
        return Some(x);
    }
    keeps_decimal(s, x).then_some(x)
}

/// Powers of ten exactly representable as doubles (10^0 to 10^22).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The significant digits of a decimal text (no leading or trailing zeros)
/// and the power of ten of its first digit; `None` for zero.
fn decimal_digits(s: &str) -> Option<(Vec<u8>, i64)> {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let first = all.iter().position(|&b| b != b'0')?;
    let last = all.iter().rposition(|&b| b != b'0')?;
    // The first significant digit's power of ten.
    let power = int.len() as i64 - 1 - first as i64 + exp;
    Some((all[first..=last].to_vec(), power))
}

/// Whether `x` (nonzero) is exactly the number `text` wrote, compared as
/// decimals with the shortest decimal that reads back as `x`.
fn keeps_decimal(text: &str, x: f64) -> bool {
    let Some((digits, power)) = decimal_digits(text) else {
        return false;
    };
    if digits.len() > 17 {
        return false;
    }
    let shortest = format!("{:e}", x.abs());
    if decimal_digits(&shortest).is_some_and(|(d, p)| d == digits && p == power) {
        return true;
    }
    // The other text of a tie (Rust's shortest takes the upper one, Python
    // and the writer the even one): both read back as `x`.
    crate::table::even_tie(x.abs(), &format!("{}", x.abs()))
        .and_then(|t| decimal_digits(&t))
        .is_some_and(|(d, p)| d == digits && p == power)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Most distinct values a string column may have and still be categorical.
const CATEGORICAL_MAX: usize = 1000;

/// Infers a column's type from its values.
pub(crate) fn infer(col: &RawColumn) -> ColumnType {
    let all = |f: fn(&str) -> bool| {
        let mut any = false;
        for v in col.candidates() {
            if !f(v) {
                return false;
            }
            any = true;
        }
        any
    };
    if all(|v| parse_bool(v).is_some()) {
        return ColumnType::Boolean;
    }
    if all(|v| parse_int(v).is_some()) {
        return ColumnType::Integer;
    }
    if all(|v| parse_float(v).is_some()) {
        return ColumnType::Float;
    }
    if all(|v| parse_date(v).is_some()) {
        return ColumnType::Date;
    }
    match col.distinct() {
        Some(d) => {
            let (distinct, present) = (d.len(), col.non_null());
            let repeats = distinct < present;
            if distinct <= CATEGORICAL_MAX && repeats && (distinct * 2 <= present || distinct <= 20)
            {
                ColumnType::Categorical
            } else {
                ColumnType::Text
            }
        }
        None => ColumnType::Text,
    }
}

/// [`infer`] then [`convert`], parsing a column of decimals once instead of
/// twice: once booleans and integers are ruled out, the float conversion is
/// itself the float check (a column that does not convert falls through to
/// the remaining types exactly as `infer` decides them).
pub(crate) fn infer_and_convert(col: &RawColumn) -> Result<ColumnData, (Vec<usize>, usize)> {
    let first_is_float = col
        .candidates()
        .next()
        .is_some_and(|v| parse_float(v).is_some());
    let all = |f: fn(&str) -> bool| col.candidates().all(f);
    if first_is_float
        && !all(|v| parse_bool(v).is_some())
        && !all(|v| parse_int(v).is_some())
        && let Ok(data) = convert(col, ColumnType::Float, 0)
    {
        return Ok(data);
    }
    convert(col, infer(col), 0)
}

/// Converts a raw column to `ty`. On failure returns the (0-based) rows
/// whose values do not fit, at most `limit` of them, and how many in all.
pub(crate) fn convert(
    col: &RawColumn,
    ty: ColumnType,
    limit: usize,
) -> Result<ColumnData, (Vec<usize>, usize)> {
    let mut bad = Vec::new();
    let mut bad_count = 0usize;
    let n = col.len();
    macro_rules! typed {
        ($parse:expr) => {{
            let mut v = Vec::with_capacity(n);
            for r in 0..n {
                match col.get(r) {
                    None => v.push(None),
                    Some(s) => match $parse(s) {
                        Some(x) => v.push(Some(x)),
                        None => {
                            bad_count += 1;
                            if bad.len() < limit {
                                bad.push(r);
                            }
                            v.push(None);
                        }
                    },
                }
            }
            v
        }};
    }
    let data = match ty {
        ColumnType::Integer => ColumnData::Integer(typed!(parse_int)),
        ColumnType::Float => {
            // Written straight into the column (NaN = missing): a column of
            // options first would allocate and fill twice the memory.
            let mut v = Vec::with_capacity(n);
            for r in 0..n {
                v.push(match col.get(r) {
                    None => f64::NAN,
                    Some(s) => parse_float(s).unwrap_or_else(|| {
                        bad_count += 1;
                        if bad.len() < limit {
                            bad.push(r);
                        }
                        f64::NAN
                    }),
                });
            }
            ColumnData::Float(v)
        }
        ColumnType::Boolean => ColumnData::Boolean(typed!(parse_bool)),
        ColumnType::Date => ColumnData::Date(typed!(parse_date)),
        ColumnType::Text => ColumnData::Text(crate::table::TextColumn::from_options(
            (0..n).map(|r| col.get(r)),
        )),
        ColumnType::Categorical => {
            let mut levels: Vec<String> = match col.distinct() {
                Some(d) => d.iter().map(|s| s.to_string()).collect(),
                None => {
                    let mut s: Vec<String> = (0..n)
                        .filter_map(|r| col.get(r).map(str::to_string))
                        .collect();
                    s.sort();
                    s.dedup();
                    s
                }
            };
            levels.sort();
            let index: HashMap<&str, u32> = levels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.as_str(), i as u32))
                .collect();
            let codes = (0..n)
                .map(|r| {
                    col.get(r)
                        .and_then(|s| index.get(s).copied())
                        .unwrap_or(crate::table::MISSING_CODE)
                })
                .collect();
            ColumnData::Categorical { codes, levels }
        }
    };
    if bad_count > 0 {
        Err((bad, bad_count))
    } else {
        Ok(data)
    }
}

/// Reads a CSV and types every column by inference. For ingestion with a
/// schema, see [`crate::ingest`].
pub fn read_csv(
    input: &mut (dyn Read + Send),
    opts: &CsvOptions,
) -> Result<(Table, warden_core::Digest), DataError> {
    let raw = read_raw(input, opts)?;
    Ok((
        Table {
            columns: type_columns(&raw)?,
            rows: raw.rows,
        },
        raw.source_digest()?,
    ))
}

/// [`read_csv`] without the input's digest, for callers that record
/// nothing of the file: the input is not hashed.
pub fn read_csv_table(
    input: &mut (dyn Read + Send),
    opts: &CsvOptions,
) -> Result<Table, DataError> {
    let raw = read_raw_with(input, opts, None, Hashing::Off)?;
    Ok(Table {
        columns: type_columns(&raw)?,
        rows: raw.rows,
    })
}

/// Types and converts every column by inference, on every core, heaviest
/// first; the result does not depend on the order they finish in.
pub(crate) fn type_columns(raw: &RawTable) -> Result<Vec<Column>, DataError> {
    crate::pool::try_map_heaviest_first(
        raw.columns.iter().collect(),
        crate::pool::workers(),
        |col| col.plain_bytes(),
        |col| -> Result<Column, DataError> {
            let data = infer_and_convert(col).map_err(|_| {
                DataError::Internal(format!(
                    "column {} did not convert to its inferred type",
                    col.name
                ))
            })?;
            Ok(Column {
                name: col.name.clone(),
                data,
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str, opts: &CsvOptions) -> Result<Table, DataError> {
        read_csv(&mut s.as_bytes(), opts).map(|(t, _)| t)
    }

    #[test]
    fn text_mapped_per_distinct_value_is_text_mapped_per_row() {
        use crate::policy::{Action, apply};
        let mut col = RawColumn::new("notes".into());
        let values = [
            Some("call 415-555-0132 after six"),
            None,
            Some("paid on time"),
            Some("call 415-555-0132 after six"),
            Some(""),
            Some("mail jane.doe@example.com"),
            None,
            Some("paid on time"),
        ];
        for v in values {
            col.push(v);
        }
        let typed = convert(&col, ColumnType::Text, 0).unwrap();
        for entity in [None, Some(crate::pii::Entity::Phone)] {
            for action in [Action::Mask, Action::Redact, Action::Pseudonymise] {
                let per_row = apply(action, &typed, entity, b"key", "notes")
                    .unwrap()
                    .unwrap();
                let levels = col.as_levels().expect("a dictionary column");
                let per_value = apply(action, &levels, entity, b"key", "notes")
                    .unwrap()
                    .unwrap()
                    .into_text();
                assert_eq!(per_value, per_row, "{action:?} {entity:?}");
            }
        }
    }

    #[test]
    fn quoted_fields_bom_and_inference() {
        let csv = "\u{feff}id,name,score,ok,day,grade\n1,\"Lee, Ana\",1.5,true,2026-01-02,A\n2,\"multi\nline \"\"quoted\"\"\",2,false,2026-01-03,B\n3,x,NA,,2026-01-04,A\n";
        let t = read(csv, &CsvOptions::default()).unwrap();
        assert_eq!(t.rows, 3);
        assert_eq!(t.names(), ["id", "name", "score", "ok", "day", "grade"]);
        let ty: Vec<_> = t.columns.iter().map(|c| c.data.column_type()).collect();
        assert_eq!(
            ty,
            [
                ColumnType::Integer,
                ColumnType::Text,
                ColumnType::Float,
                ColumnType::Boolean,
                ColumnType::Date,
                ColumnType::Categorical
            ]
        );
        assert_eq!(t.columns[1].data.text(1).unwrap(), "multi\nline \"quoted\"");
        assert!(t.columns[2].data.is_null(2));
        assert!(t.columns[3].data.is_null(2));
    }

    #[test]
    fn trimming_missing_markers_and_delimiters() {
        let csv = "a; b\n 1; ?\n 2; x\n";
        let mut o = CsvOptions {
            delimiter: b';',
            ..Default::default()
        };
        let t = read(csv, &o).unwrap();
        assert_eq!(t.columns[0].data.column_type(), ColumnType::Text);
        o.trim = true;
        let t = read(csv, &o).unwrap();
        assert_eq!(t.names(), ["a", "b"]);
        assert_eq!(
            t.columns[0].data,
            ColumnData::Integer(vec![Some(1), Some(2)])
        );
        assert!(t.columns[1].data.is_null(0));
    }

    #[test]
    fn leading_zeros_stay_text() {
        let t = read("zip\n00501\n10001\n", &CsvOptions::default()).unwrap();
        assert_ne!(t.columns[0].data.column_type(), ColumnType::Integer);
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let o = CsvOptions::default();
        let e = read("a,b\n1,2\n3\n4,5\n", &o).unwrap_err().to_string();
        assert!(
            e.contains("row 2")
                && e.contains("line 3")
                && e.contains("1 fields but the header has 2"),
            "{e}"
        );
        assert!(read("", &o).unwrap_err().to_string().contains("empty"));
        assert!(
            read("a,b\n", &o)
                .unwrap_err()
                .to_string()
                .contains("no data rows")
        );
        assert!(
            read("a,a\n1,2\n", &o)
                .unwrap_err()
                .to_string()
                .contains("duplicate column name \"a\"")
        );
        let e = read_csv(&mut &b"a,b\n1,\xff\xfe\n"[..], &o)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("invalid UTF-8") && e.contains("column b"), "{e}");
        let small = CsvOptions {
            max_field_bytes: 100,
            ..Default::default()
        };
        let big = format!("a,b\n1,{}\n", "x".repeat(1000));
        let e = read(&big, &small).unwrap_err().to_string();
        assert!(
            e.contains("longer than 100 bytes") && e.contains("column b"),
            "{e}"
        );
    }

    #[test]
    fn many_distinct_values_switch_to_plain_storage() {
        let mut s = String::from("v\n");
        for i in 0..(DICT_LIMIT + 10) {
            s.push_str(&format!("k{i}\n"));
        }
        let t = read(&s, &CsvOptions::default()).unwrap();
        assert_eq!(t.rows, DICT_LIMIT + 10);
        assert_eq!(t.columns[0].data.column_type(), ColumnType::Text);
        assert_eq!(
            t.columns[0].data.text(DICT_LIMIT + 9).unwrap(),
            format!("k{}", DICT_LIMIT + 9)
        );
    }

    #[test]
    fn records_spanning_buffer_boundaries_read_back_exactly() {
        // Long enough to cross the 256 KiB input buffer many times, with
        // quoted fields that grow the output buffer mid-record.
        let mut src = String::from("id,text,x\n");
        let mut expect = Vec::new();
        for i in 0..20_000 {
            let text = format!("row {i} {}", "a\"b,".repeat(i % 37));
            src.push_str(&format!(
                "{i},\"{}\",{}.5\n",
                text.replace('"', "\"\""),
                i % 100
            ));
            expect.push(text);
        }
        let t = read(&src, &CsvOptions::default()).unwrap();
        assert_eq!(t.rows, 20_000);
        for (i, want) in expect.iter().enumerate() {
            assert_eq!(t.columns[0].data.text(i).unwrap(), i.to_string());
            assert_eq!(&t.columns[1].data.text(i).unwrap(), want);
            assert_eq!(t.columns[2].data.number(i).unwrap(), (i % 100) as f64 + 0.5);
        }
    }

    #[test]
    fn values_are_typed_only_when_kept_exactly() {
        let ty = |vals: &[&str]| {
            let mut c = RawColumn::new("x".into());
            for v in vals {
                c.push(Some(v));
            }
            infer(&c)
        };
        assert_eq!(ty(&["007", "012", "3"]), ColumnType::Text);
        assert_eq!(ty(&["007", "012", "007", "012"]), ColumnType::Categorical);
        assert_eq!(ty(&["00.5", "1.5"]), ColumnType::Text);
        assert_eq!(ty(&["4088002734199108369", "1"]), ColumnType::Integer);
        assert_eq!(ty(&["4088002734199108369", "1.5"]), ColumnType::Text);
        assert_eq!(ty(&["9223372036854775807", "1"]), ColumnType::Integer);
        assert_eq!(ty(&["9223372036854775808", "1.5"]), ColumnType::Text);
        assert_eq!(ty(&["0.1", "2.5e3", "-0.25"]), ColumnType::Float);
        assert_eq!(ty(&["0.30000000000000004", "1"]), ColumnType::Float);
        assert_eq!(ty(&["0.300000000000000041", "1"]), ColumnType::Text);
        // Underflow to zero and subnormals that lose digits are not kept.
        assert_eq!(ty(&["1e-400", "1.5"]), ColumnType::Text);
        assert_eq!(ty(&["0e-400", "0.000", "1.5"]), ColumnType::Float);
        assert_eq!(ty(&["5e-324", "1.5"]), ColumnType::Float);
        assert_eq!(ty(&["1.234567e-320", "1.5"]), ColumnType::Text);
        // A tie: 0.81208038330078125 exactly (a float32's value), written
        // ...812 by Python (even) and ...813 by Rust's shortest; both are
        // that float.
        assert_eq!(
            ty(&["0.8120803833007812", "0.8120803833007813", "0.5"]),
            ColumnType::Float
        );
        // Syntax: what a float reader writes, nothing else.
        for ok in ["1.", ".5", "+2.5", "-0.5e-3", "1E+05", "0e5"] {
            assert_eq!(parse_float(ok), ok.parse().ok(), "{ok}");
        }
        for bad in [
            "", "+", ".", "e5", "1e", "1e+", "1.5.3", "--1", "1-2", "inf", "NaN", "1e400", "00e5",
            "0x1p3", "1_0", " 1", "1 ",
        ] {
            assert_eq!(parse_float(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_nul_byte_is_refused_naming_row_and_column() {
        let csv = b"a,b\n1,x\n2,y\x00z\n";
        let e = read_csv(&mut csv.as_slice(), &CsvOptions::default()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("NUL") && msg.contains("column b") && msg.contains("row 2"),
            "{msg}"
        );
    }

    /// The value of a decimal text as an exact rational digit string and
    /// power (independent of `decimal_digits`): through `{:e}` of a wide
    /// integer-scaled form is not available, so compare via the shortest
    /// round-trip representation.
    fn same_number(text: &str, x: f64) -> bool {
        let t: f64 = text.parse().unwrap();
        // x is what the text parses to...
        if t.to_bits() != x.to_bits() {
            return false;
        }
        // ...and printing x and reading it back as a decimal gives the
        // text's number: compare normalised digit strings.
        let norm = |s: &str| -> (String, i64) {
            let s = s.trim_start_matches(['-', '+']);
            let (m, e) = match s.find(['e', 'E']) {
                Some(i) => (&s[..i], s[i + 1..].parse::<i64>().unwrap()),
                None => (s, 0),
            };
            let (i, f) = m.split_once('.').unwrap_or((m, ""));
            let all = format!("{i}{f}");
            let lead = all.len() - all.trim_start_matches('0').len();
            let digits = all
                .trim_start_matches('0')
                .trim_end_matches('0')
                .to_string();
            (digits, i.len() as i64 - 1 - lead as i64 + e)
        };
        let (d1, p1) = norm(text);
        // Only a decimal of at most 15 significant digits (DBL_DIG) is
        // sure to come back as itself; a longer one can share its double
        // with a shorter text (563000000000000.3 and .2 are both
        // 563000000000000.25), and then the bits above are all there is to
        // compare.
        if d1.len() > 15 {
            return true;
        }
        // The canonical text (the even candidate on a tie, where Rust's
        // `{:e}` takes the upper one: 6000000000000002e-1).
        let (d2, p2) = norm(&crate::table::format_float(x.abs()));
        (d1.is_empty() && d2.is_empty()) || (d1 == d2 && p1 == p2)
    }

    proptest::proptest! {
        /// The fast path and the full parser agree bit for bit on plain
        /// decimals, and both on everything the syntax admits.
        #[test]
        fn plain_decimals_parse_as_the_standard_library_does(
            mantissa in 0u64..1_000_000_000_000_000,
            frac in 0usize..25,
            negative in proptest::prelude::any::<bool>(),
            exponent in proptest::option::of(-30i32..30),
        ) {
            let digits = mantissa.to_string();
            let text = if frac == 0 || frac >= digits.len() {
                format!("0.{}{digits}", "0".repeat(frac.saturating_sub(digits.len())))
            } else {
                format!("{}.{}", &digits[..digits.len() - frac], &digits[digits.len() - frac..])
            };
            let text = if frac == 0 { digits.clone() } else { text };
            let mut text = if negative { format!("-{text}") } else { text };
            if let Some(e) = exponent {
                text.push_str(&format!("e{e}"));
            }
            let want: f64 = text.parse().unwrap();
            if let Some(got) = parse_float(&text) {
                proptest::prop_assert_eq!(got.to_bits(), want.to_bits(), "{}", text);
            } else {
                // Refused only for a leading zero before more digits, or
                // an exponent that loses the value.
                proptest::prop_assert!(
                    text.trim_start_matches('-').starts_with("00") || exponent.is_some(),
                    "{} refused", text
                );
            }
        }
    }

    /// A 16-digit text that shares its double with a shorter one is kept
    /// as that double; the float check does not ask for its digits back.
    #[test]
    fn a_long_decimal_is_kept_as_its_double() {
        let text = "563000000000000.3";
        let want: f64 = text.parse().unwrap();
        let mut c = RawColumn::new("x".into());
        c.push(Some(text));
        match infer_and_convert(&c) {
            Ok(ColumnData::Float(xs)) => {
                assert_eq!(xs[0].to_bits(), want.to_bits());
                assert!(same_number(text, xs[0]));
            }
            other => panic!("{other:?}"),
        }
    }

    proptest::proptest! {
        /// Every value a float column keeps is the number its text wrote.
        #[test]
        fn a_float_column_keeps_every_value_exactly(
            vals in proptest::collection::vec("-?(0|[1-9][0-9]{0,19})(\\.[0-9]{1,19})?(e-?[1-9][0-9]?)?", 1..20)
        ) {
            let mut c = RawColumn::new("x".into());
            for v in &vals {
                c.push(Some(v));
            }
            if let Ok(ColumnData::Float(xs)) = infer_and_convert(&c) {
                for (v, x) in vals.iter().zip(xs) {
                    proptest::prop_assert!(same_number(v, x), "{} stored as {}", v, x);
                }
            }
            if let Ok(ColumnData::Integer(xs)) = infer_and_convert(&c) {
                for (v, x) in vals.iter().zip(xs) {
                    proptest::prop_assert_eq!(Some(v.parse::<i64>().unwrap()), x);
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            let _ = read_csv(&mut bytes.as_slice(), &CsvOptions { max_field_bytes: 64, ..Default::default() });
        }

        #[test]
        fn parsing_structured_input_never_panics(s in "[a-c,\"\n\r; ?]{0,300}") {
            let _ = read(&s, &CsvOptions::default());
        }
    }
}
