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

use crate::table::{Column, ColumnData, ColumnType, Table, parse_date};
use crate::{DataError, Hasher};

/// How to read a CSV file.
#[derive(Clone, Debug)]
pub struct CsvOptions {
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
    dict: HashMap<Box<str>, u32>,
    values: Vec<Box<str>>,
    codes: Vec<u32>,
    /// Plain mode (too many distinct values): every value in one buffer.
    plain: Option<Plain>,
}

struct Plain {
    buf: String,
    ends: Vec<usize>,
    missing: Vec<bool>,
}

const NULL: u32 = u32::MAX;
/// Past this many distinct values a column switches to plain storage.
const DICT_LIMIT: usize = 1 << 16;

impl RawColumn {
    fn new(name: String) -> Self {
        RawColumn {
            name,
            dict: HashMap::new(),
            values: Vec::new(),
            codes: Vec::new(),
            plain: None,
        }
    }

    fn push(&mut self, v: Option<&str>) {
        if let Some(p) = &mut self.plain {
            p.buf.push_str(v.unwrap_or(""));
            p.ends.push(p.buf.len());
            p.missing.push(v.is_none());
            return;
        }
        let Some(v) = v else {
            self.codes.push(NULL);
            return;
        };
        if let Some(&c) = self.dict.get(v) {
            self.codes.push(c);
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
        self.codes.push(c);
    }

    fn switch_to_plain(&mut self) {
        let mut p = Plain {
            buf: String::new(),
            ends: Vec::with_capacity(self.codes.len() * 2),
            missing: Vec::with_capacity(self.codes.len() * 2),
        };
        for &c in &self.codes {
            if c == NULL {
                p.missing.push(true);
            } else {
                p.buf.push_str(&self.values[c as usize]);
                p.missing.push(false);
            }
            p.ends.push(p.buf.len());
        }
        self.plain = Some(p);
        self.dict = HashMap::new();
        self.values = Vec::new();
        self.codes = Vec::new();
    }

    pub(crate) fn len(&self) -> usize {
        match &self.plain {
            Some(p) => p.ends.len(),
            None => self.codes.len(),
        }
    }

    /// The value at `row`.
    pub(crate) fn get(&self, row: usize) -> Option<&str> {
        match &self.plain {
            Some(p) => {
                if p.missing[row] {
                    return None;
                }
                let start = if row == 0 { 0 } else { p.ends[row - 1] };
                Some(&p.buf[start..p.ends[row]])
            }
            None => match self.codes[row] {
                NULL => None,
                c => Some(&self.values[c as usize]),
            },
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
            None => Box::new((0..self.len()).filter_map(|r| self.get(r))),
        }
    }

    fn non_null(&self) -> usize {
        (0..self.len()).filter(|&r| self.get(r).is_some()).count()
    }
}

/// What was read: the raw columns and the digest of the bytes.
pub(crate) struct RawTable {
    pub(crate) columns: Vec<RawColumn>,
    pub(crate) rows: usize,
    pub(crate) source_digest: warden_core::Digest,
    pub(crate) source_bytes: u64,
}

fn trim_ws(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Reads CSV from `input`, hashing every byte. The first record is the header.
pub(crate) fn read_raw(input: &mut dyn Read, opts: &CsvOptions) -> Result<RawTable, DataError> {
    let mut rdr = csv_core::ReaderBuilder::new()
        .delimiter(opts.delimiter)
        .build();
    let mut hasher = Hasher::new();
    let mut inbuf = vec![0u8; 256 * 1024];
    let (mut pos, mut len, mut eof) = (0usize, 0usize, false);
    let mut out = vec![0u8; 64 * 1024];
    let mut ends = vec![0usize; 64];
    let (mut outlen, mut endlen) = (0usize, 0usize);
    let mut header: Option<Vec<String>> = None;
    let mut columns: Vec<RawColumn> = Vec::new();
    let mut record = 0usize; // 0 = header
    let mut line = 1u64; // line where the current record starts
    let mut lines_in_record = 0u64;
    let mut total = 0u64;
    let max_out = opts.max_field_bytes.saturating_mul(4).max(1 << 20);

    loop {
        if pos == len && !eof {
            len = loop {
                match input.read(&mut inbuf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(DataError::Io(format!("reading the input: {e}"))),
                }
            };
            pos = 0;
            hasher.update(&inbuf[..len]);
            total += len as u64;
            eof = len == 0;
        }
        let chunk = &inbuf[pos..len];
        let (res, nin, nout, nend) =
            rdr.read_record(chunk, &mut out[outlen..], &mut ends[endlen..]);
        lines_in_record += chunk[..nin].iter().filter(|&&b| b == b'\n').count() as u64;
        pos += nin;
        // csv-core writes field ends as offsets from the start of the
        // record, across calls, so they index `out` directly.
        outlen += nout;
        endlen += nend;
        match res {
            csv_core::ReadRecordResult::InputEmpty => continue,
            csv_core::ReadRecordResult::OutputFull => {
                let field_start = if endlen == 0 { 0 } else { ends[endlen - 1] };
                if outlen - field_start >= opts.max_field_bytes {
                    return Err(DataError::Parse {
                        row: record,
                        line,
                        column: header
                            .as_ref()
                            .and_then(|h| h.get(endlen))
                            .cloned()
                            .unwrap_or_else(|| format!("#{}", endlen + 1)),
                        message: format!(
                            "field is longer than {} bytes (the limit; raise it with --max-field-bytes)",
                            opts.max_field_bytes
                        ),
                    });
                }
                if out.len() >= max_out {
                    return Err(DataError::Parse {
                        row: record,
                        line,
                        column: String::new(),
                        message: format!("record is longer than {max_out} bytes"),
                    });
                }
                out.resize((out.len() * 2).min(max_out), 0);
            }
            csv_core::ReadRecordResult::OutputEndsFull => {
                if ends.len() >= opts.max_columns {
                    return Err(DataError::Parse {
                        row: record,
                        line,
                        column: String::new(),
                        message: format!("more than {} fields in one record", opts.max_columns),
                    });
                }
                ends.resize((ends.len() * 2).min(opts.max_columns), 0);
            }
            csv_core::ReadRecordResult::Record => {
                let mut start = 0;
                let mut fields: Vec<&str> = Vec::with_capacity(endlen);
                for (i, &end) in ends[..endlen].iter().enumerate() {
                    let raw = &out[start..end];
                    start = end;
                    if raw.len() > opts.max_field_bytes {
                        return Err(DataError::Parse {
                            row: record,
                            line,
                            column: header
                                .as_ref()
                                .and_then(|h| h.get(i))
                                .cloned()
                                .unwrap_or_else(|| format!("#{}", i + 1)),
                            message: format!(
                                "field is longer than {} bytes (the limit; raise it with --max-field-bytes)",
                                opts.max_field_bytes
                            ),
                        });
                    }
                    let s = std::str::from_utf8(raw).map_err(|e| DataError::Parse {
                        row: record,
                        line,
                        column: header
                            .as_ref()
                            .and_then(|h| h.get(i))
                            .cloned()
                            .unwrap_or_else(|| format!("#{}", i + 1)),
                        message: format!("invalid UTF-8 at byte {} of the field", e.valid_up_to()),
                    })?;
                    fields.push(if opts.trim { trim_ws(s) } else { s });
                }
                match &header {
                    None => {
                        let mut seen = HashMap::new();
                        for (i, f) in fields.iter().enumerate() {
                            let name = trim_ws(f);
                            if name.is_empty() {
                                return Err(DataError::Header(format!(
                                    "column {} has an empty name",
                                    i + 1
                                )));
                            }
                            if let Some(j) = seen.insert(name.to_string(), i) {
                                return Err(DataError::Header(format!(
                                    "duplicate column name {name:?} (columns {} and {})",
                                    j + 1,
                                    i + 1
                                )));
                            }
                        }
                        let names: Vec<String> =
                            fields.iter().map(|f| trim_ws(f).to_string()).collect();
                        columns = names.iter().cloned().map(RawColumn::new).collect();
                        header = Some(names);
                    }
                    Some(h) => {
                        if fields.len() != h.len() {
                            // A blank line reads as one empty field: skip it.
                            if !(fields.len() == 1 && fields[0].is_empty()) {
                                return Err(DataError::Parse {
                                    row: record,
                                    line,
                                    column: String::new(),
                                    message: format!(
                                        "has {} fields but the header has {}",
                                        fields.len(),
                                        h.len()
                                    ),
                                });
                            }
                            record -= 1;
                        } else {
                            for (col, f) in columns.iter_mut().zip(&fields) {
                                let missing = opts.missing.iter().any(|m| m == f);
                                col.push(if missing { None } else { Some(f) });
                            }
                        }
                    }
                }
                record += 1;
                line += lines_in_record.max(1);
                lines_in_record = 0;
                outlen = 0;
                endlen = 0;
            }
            csv_core::ReadRecordResult::End => break,
        }
    }
    if header.is_none() {
        return Err(DataError::Header("the file is empty: no header row".into()));
    }
    let rows = record.saturating_sub(1);
    if rows == 0 {
        return Err(DataError::Header(
            "the file has a header but no data rows".into(),
        ));
    }
    Ok(RawTable {
        columns,
        rows,
        source_digest: hasher.finish(),
        source_bytes: total,
    })
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

fn parse_float(s: &str) -> Option<f64> {
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        || !s.bytes().any(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite())
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
        ColumnType::Float => ColumnData::Float(typed!(parse_float)),
        ColumnType::Boolean => ColumnData::Boolean(typed!(parse_bool)),
        ColumnType::Date => ColumnData::Date(typed!(parse_date)),
        ColumnType::Text => {
            ColumnData::Text((0..n).map(|r| col.get(r).map(str::to_string)).collect())
        }
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
                .map(|r| col.get(r).and_then(|s| index.get(s).copied()))
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
    input: &mut dyn Read,
    opts: &CsvOptions,
) -> Result<(Table, warden_core::Digest), DataError> {
    let raw = read_raw(input, opts)?;
    let mut columns = Vec::with_capacity(raw.columns.len());
    for col in &raw.columns {
        let ty = infer(col);
        let data = convert(col, ty, 0).map_err(|_| {
            DataError::Internal(format!(
                "column {} did not convert to its inferred type",
                col.name
            ))
        })?;
        columns.push(Column {
            name: col.name.clone(),
            data,
        });
    }
    Ok((
        Table {
            columns,
            rows: raw.rows,
        },
        raw.source_digest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str, opts: &CsvOptions) -> Result<Table, DataError> {
        read_csv(&mut s.as_bytes(), opts).map(|(t, _)| t)
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
