//! The typed columnar table every data stage works on.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A column's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// 64-bit signed integers.
    Integer,
    /// Finite 64-bit floats.
    Float,
    /// `true` or `false`.
    Boolean,
    /// Strings from a set of levels, stored as codes.
    Categorical,
    /// Free text.
    Text,
    /// Calendar dates, `YYYY-MM-DD`.
    Date,
}

impl ColumnType {
    /// The lower-case name used in schemas and reports (`categorical`).
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Float => "float",
            ColumnType::Boolean => "boolean",
            ColumnType::Categorical => "categorical",
            ColumnType::Text => "text",
            ColumnType::Date => "date",
        }
    }

    /// Whether the type is integer or float.
    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnType::Integer | ColumnType::Float)
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The code of a missing categorical value.
pub const MISSING_CODE: u32 = u32::MAX;

/// A column's values; `None` is a missing value. Floats are finite, and NaN
/// marks a missing float (so a float costs 8 bytes, not 16); a categorical
/// code of [`MISSING_CODE`] marks a missing category.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnData {
    /// 64-bit signed integers.
    Integer(Vec<Option<i64>>),
    /// Finite floats; NaN marks a missing value.
    Float(Vec<f64>),
    /// Booleans.
    Boolean(Vec<Option<bool>>),
    /// Codes index into `levels`, which are sorted.
    Categorical {
        /// One code per row; [`MISSING_CODE`] for a missing value.
        codes: Vec<u32>,
        /// The distinct values.
        levels: Vec<String>,
    },
    /// Free text.
    Text(TextColumn),
    /// Days since 1970-01-01.
    Date(Vec<Option<i32>>),
}

impl ColumnData {
    /// The type these values have.
    pub fn column_type(&self) -> ColumnType {
        match self {
            ColumnData::Integer(_) => ColumnType::Integer,
            ColumnData::Float(_) => ColumnType::Float,
            ColumnData::Boolean(_) => ColumnType::Boolean,
            ColumnData::Categorical { .. } => ColumnType::Categorical,
            ColumnData::Text(_) => ColumnType::Text,
            ColumnData::Date(_) => ColumnType::Date,
        }
    }

    /// Number of rows, missing values included.
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Integer(v) => v.len(),
            ColumnData::Float(v) => v.len(),
            ColumnData::Boolean(v) => v.len(),
            ColumnData::Categorical { codes, .. } => codes.len(),
            ColumnData::Text(v) => v.len(),
            ColumnData::Date(v) => v.len(),
        }
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the value in `row` (0-based) is missing.
    pub fn is_null(&self, row: usize) -> bool {
        match self {
            ColumnData::Integer(v) => v[row].is_none(),
            ColumnData::Float(v) => v[row].is_nan(),
            ColumnData::Boolean(v) => v[row].is_none(),
            ColumnData::Categorical { codes, .. } => codes[row] == MISSING_CODE,
            ColumnData::Text(v) => v.get(row).is_none(),
            ColumnData::Date(v) => v[row].is_none(),
        }
    }

    /// Number of missing values.
    pub fn null_count(&self) -> usize {
        (0..self.len()).filter(|&r| self.is_null(r)).count()
    }

    /// The value as a number, for numeric columns (integers, floats,
    /// booleans as 0/1, dates as days).
    pub fn number(&self, row: usize) -> Option<f64> {
        match self {
            ColumnData::Integer(v) => v[row].map(|x| x as f64),
            ColumnData::Float(v) => Some(v[row]).filter(|x| !x.is_nan()),
            ColumnData::Boolean(v) => v[row].map(|b| if b { 1.0 } else { 0.0 }),
            ColumnData::Date(v) => v[row].map(f64::from),
            _ => None,
        }
    }

    /// The value as text, in the canonical form written to CSV.
    pub fn text(&self, row: usize) -> Option<String> {
        match self {
            ColumnData::Integer(v) => v[row].map(|x| x.to_string()),
            ColumnData::Float(v) => Some(v[row]).filter(|x| !x.is_nan()).map(format_float),
            ColumnData::Boolean(v) => v[row].map(|b| b.to_string()),
            ColumnData::Categorical { codes, levels } => levels.get(codes[row] as usize).cloned(),
            ColumnData::Text(v) => v.get(row).map(str::to_string),
            ColumnData::Date(v) => v[row].map(format_date),
        }
    }

    /// The column as text: a categorical column's rows spelled out, other
    /// columns unchanged.
    pub fn into_text(self) -> ColumnData {
        match self {
            ColumnData::Categorical { codes, levels } => {
                ColumnData::Text(TextColumn::from_options(
                    codes
                        .iter()
                        .map(|&c| levels.get(c as usize).map(String::as_str)),
                ))
            }
            other => other,
        }
    }

    /// Calls `f` with the value's canonical text without allocating for
    /// string columns (`scratch` is reused for the others). `None` when
    /// the value is missing.
    pub fn with_text<R>(
        &self,
        row: usize,
        scratch: &mut String,
        f: impl FnOnce(&str) -> R,
    ) -> Option<R> {
        scratch.clear();
        match self {
            ColumnData::Categorical { codes, levels } => {
                return levels.get(codes[row] as usize).map(|l| f(l));
            }
            ColumnData::Text(v) => return v.get(row).map(f),
            ColumnData::Integer(v) => {
                let x = v[row]?;
                scratch.push_str(itoa::Buffer::new().format(x));
            }
            ColumnData::Float(v) => push_float(scratch, Some(v[row]).filter(|x| !x.is_nan())?),
            ColumnData::Boolean(v) => scratch.push_str(if v[row]? { "true" } else { "false" }),
            ColumnData::Date(v) => scratch.push_str(&format_date(v[row]?)),
        }
        Some(f(scratch))
    }
}

/// Shortest text that parses back to the same float, with integral values
/// keeping a `.0` so the column stays a float column. Where two texts of
/// that length are equally close to the float, the one ending in an even
/// digit, as Python's `repr`, NumPy, pandas and JavaScript write it (Rust's
/// `Display` takes the upper one): a float written by them reads and
/// writes back to the same text.
pub fn format_float(x: f64) -> String {
    let mut s = String::new();
    push_float(&mut s, x);
    s
}

fn push_float(out: &mut String, x: f64) {
    // Ryū finds the same shortest digits, taking the even one on a tie
    // (600000000000000.25 is written `.2`), several times faster; where it
    // would write an exponent, Rust's positional text is written instead.
    // A test checks both paths agree, ties included.
    if x.is_finite() {
        let mut buf = ryu::Buffer::new();
        let text = buf.format_finite(x);
        if !text.contains('e') {
            out.push_str(text);
            return;
        }
    }
    push_float_positional(out, x);
}

/// [`push_float`] from Rust's `Display` text, made even on a tie.
fn push_float_positional(out: &mut String, x: f64) {
    use std::fmt::Write;
    let start = out.len();
    let _ = write!(out, "{x}");
    if let Some(even) = even_tie(x, &out[start..]) {
        out.truncate(start);
        out.push_str(&even);
    }
    if x.is_finite() && !out[start..].contains(['.', 'e', 'E']) {
        out.push_str(".0");
    }
}

/// When `x`'s exact value lies halfway between two decimals with as many
/// significant digits as `display` (Rust's shortest text for it), and both
/// read back as `x`: the one ending in an even digit, if `display` is the
/// other. `None` otherwise (the common case, decided from the float's bits
/// alone).
///
/// `x = m·2^-k` with `m` odd; its exact decimal is `m·5^k / 10^k`, whose
/// last digit is 5. A tie at `n` digits needs that exact decimal to have
/// `n + 1 ≤ 18` digits, so `k ≤ 27` and `m·5^k < 10^18`, computed in
/// `u128`.
pub(crate) fn even_tie(x: f64, display: &str) -> Option<String> {
    if !x.is_finite() || x == 0.0 {
        return None;
    }
    let bits = x.abs().to_bits();
    let biased = (bits >> 52) as i64;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    let tz = m.trailing_zeros();
    m >>= tz;
    e += i64::from(tz);
    if !(-27..0).contains(&e) {
        return None;
    }
    let k = (-e) as u32;
    let exact = u128::from(m) * 5u128.pow(k);
    if exact >= 1_000_000_000_000_000_000 {
        return None;
    }
    let exact_digits = exact.to_string();
    let shown = display
        .bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|&b| b == b'0')
        .collect::<Vec<u8>>();
    let shown_len = shown.iter().rposition(|&b| b != b'0').map_or(0, |i| i + 1);
    if exact_digits.len() != shown_len + 1 {
        return None;
    }
    // The two candidates: the exact digits without their final 5, and one
    // more; the even one, with k - 1 decimal places.
    let lower = exact / 10;
    let even = if lower.is_multiple_of(2) {
        lower
    } else {
        lower + 1
    };
    let places = (k - 1) as usize;
    let digits = even.to_string();
    let digits = if digits.len() <= places {
        format!("{}{digits}", "0".repeat(places + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = digits.split_at(digits.len() - places);
    let frac = frac.trim_end_matches('0');
    let sign = if x < 0.0 { "-" } else { "" };
    let text = if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    };
    (text != display && text.parse::<f64>().ok() == Some(x)).then_some(text)
}

/// `YYYY-MM-DD` for days since 1970-01-01 (proleptic Gregorian).
pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(days));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 for a valid `YYYY-MM-DD`; `None` otherwise.
pub fn parse_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = &s[r];
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    i32::try_from(days_from_civil(y, m, d)).ok()
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's civil-date algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Strings stored in one buffer with an end offset each (8 bytes a value
/// beside the text, instead of a heap string per value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextColumn {
    buf: String,
    /// End of each value in `buf`; the top bit marks a missing value.
    ends: Vec<u64>,
}

const TEXT_MISSING: u64 = 1 << 63;

impl TextColumn {
    /// An empty column.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a column from optional values.
    pub fn from_options<S: AsRef<str>>(values: impl IntoIterator<Item = Option<S>>) -> Self {
        let mut t = TextColumn::new();
        for v in values {
            t.push(v.as_ref().map(AsRef::as_ref));
        }
        t
    }

    /// Appends a value; `None` appends a missing value.
    pub fn push(&mut self, v: Option<&str>) {
        self.buf.push_str(v.unwrap_or(""));
        let end = self.buf.len() as u64;
        self.ends
            .push(if v.is_some() { end } else { end | TEXT_MISSING });
    }

    /// Appends every row of `later`, in order.
    pub fn append(&mut self, later: TextColumn) {
        if self.ends.is_empty() {
            *self = later;
            return;
        }
        let base = self.buf.len() as u64;
        self.buf.push_str(&later.buf);
        self.ends.extend(later.ends.iter().map(|&end| {
            let missing = end & TEXT_MISSING;
            ((end & !TEXT_MISSING) + base) | missing
        }));
    }

    /// Number of rows, missing values included.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The value in `row` (0-based); `None` when it is missing or `row` is
    /// past the end.
    pub fn get(&self, row: usize) -> Option<&str> {
        let end = *self.ends.get(row)?;
        if end & TEXT_MISSING != 0 {
            return None;
        }
        let start = if row == 0 {
            0
        } else {
            self.ends[row - 1] & !TEXT_MISSING
        };
        self.buf.get(start as usize..end as usize)
    }

    /// Every value in row order, `None` for a missing one.
    pub fn iter(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        (0..self.len()).map(|r| self.get(r))
    }
}

impl ColumnData {
    /// The column without the rows in `drop` (sorted, distinct row
    /// numbers); the other rows keep their order. A categorical column
    /// keeps its levels.
    pub fn without_rows(&self, drop: &[usize]) -> ColumnData {
        fn keep<T: Clone>(v: &[T], drop: &[usize]) -> Vec<T> {
            let mut next = drop.iter().peekable();
            let mut out = Vec::with_capacity(v.len().saturating_sub(drop.len()));
            for (i, x) in v.iter().enumerate() {
                if next.peek() == Some(&&i) {
                    next.next();
                } else {
                    out.push(x.clone());
                }
            }
            out
        }
        match self {
            ColumnData::Integer(v) => ColumnData::Integer(keep(v, drop)),
            ColumnData::Float(v) => ColumnData::Float(keep(v, drop)),
            ColumnData::Boolean(v) => ColumnData::Boolean(keep(v, drop)),
            ColumnData::Date(v) => ColumnData::Date(keep(v, drop)),
            ColumnData::Categorical { codes, levels } => ColumnData::Categorical {
                codes: keep(codes, drop),
                levels: levels.clone(),
            },
            ColumnData::Text(t) => {
                let rows: Vec<usize> = (0..t.len()).collect();
                ColumnData::Text(TextColumn::from_options(
                    keep(&rows, drop).into_iter().map(|r| t.get(r)),
                ))
            }
        }
    }
}

/// A named column.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// The column's name, from the header.
    pub name: String,
    /// The column's values.
    pub data: ColumnData,
}

/// Columns of equal length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// The columns, in file order.
    pub columns: Vec<Column>,
    /// Number of rows, the header not counted; every column has this many
    /// values.
    pub rows: usize,
}

impl Table {
    /// The table without the rows in `drop` (sorted, distinct row numbers).
    pub fn without_rows(&self, drop: &[usize]) -> Table {
        let drop: Vec<usize> = drop.iter().copied().filter(|&r| r < self.rows).collect();
        Table {
            rows: self.rows - drop.len(),
            columns: self
                .columns
                .iter()
                .map(|c| Column {
                    name: c.name.clone(),
                    data: c.data.without_rows(&drop),
                })
                .collect(),
        }
    }

    /// The column named `name`; `None` if there is none.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The position (0-based) of the column named `name`; `None` if there is
    /// none.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn appended_text_columns_read_as_one() {
        use super::TextColumn;
        let parts: [&[Option<&str>]; 4] = [
            &[],
            &[Some("a"), None, Some("")],
            &[None, Some("bc")],
            &[Some("d"), None],
        ];
        let mut joined = TextColumn::new();
        for p in parts {
            joined.append(TextColumn::from_options(p.iter().copied()));
        }
        let all: Vec<Option<&str>> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        assert_eq!(joined, TextColumn::from_options(all.iter().copied()));
        assert_eq!(joined.iter().collect::<Vec<_>>(), all);
    }

    #[test]
    fn dropping_rows_keeps_the_others_in_order() {
        let t = Table {
            rows: 4,
            columns: vec![
                Column {
                    name: "i".into(),
                    data: ColumnData::Integer(vec![Some(1), None, Some(3), Some(4)]),
                },
                Column {
                    name: "t".into(),
                    data: ColumnData::Text(TextColumn::from_options([
                        Some("a"),
                        Some("b"),
                        None,
                        Some("d"),
                    ])),
                },
                Column {
                    name: "c".into(),
                    data: ColumnData::Categorical {
                        codes: vec![0, 1, MISSING_CODE, 0],
                        levels: vec!["x".into(), "y".into()],
                    },
                },
            ],
        };
        let d = t.without_rows(&[1, 3, 9]);
        assert_eq!(d.rows, 2);
        assert_eq!(
            d.columns[0].data,
            ColumnData::Integer(vec![Some(1), Some(3)])
        );
        assert_eq!(d.columns[1].data.text(0).as_deref(), Some("a"));
        assert_eq!(d.columns[1].data.text(1), None);
        assert_eq!(d.columns[2].data.text(0).as_deref(), Some("x"));
        assert!(d.columns[2].data.is_null(1));
        assert_eq!(t.without_rows(&[]), t);
    }

    use super::*;

    #[test]
    fn dates_round_trip() {
        for s in ["1970-01-01", "2000-02-29", "1899-12-31", "2026-11-22"] {
            assert_eq!(format_date(parse_date(s).unwrap()), s);
        }
        assert_eq!(parse_date("1970-01-02"), Some(1));
        for bad in ["2001-02-29", "2026-13-01", "2026-1-01", "20x6-01-01", ""] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn floats_keep_a_decimal_point() {
        assert_eq!(format_float(3.0), "3.0");
        // A tie at 16 digits (exactly 0.81208038330078125): the even one,
        // as Python writes it, whichever text it was read from.
        for text in ["0.8120803833007812", "0.8120803833007813"] {
            assert_eq!(format_float(text.parse().unwrap()), "0.8120803833007812");
        }
        assert_eq!(format_float(-0.8120803833007812), "-0.8120803833007812");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(-2.5e-10), "-0.00000000025");
    }

    /// Significant digits of a decimal text, without leading or trailing
    /// zeros.
    fn significant(t: &str) -> String {
        let d: String = t
            .chars()
            .filter(char::is_ascii_digit)
            .skip_while(|&c| c == '0')
            .collect();
        d.trim_end_matches('0').to_string()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        /// The fast path writes what the positional path writes, for
        /// floats from f32 (ties are common there), from any bits, and
        /// from decimals with few digits (prices, ratios).
        #[test]
        fn the_fast_float_text_is_the_positional_one(
            bits in proptest::prelude::any::<u32>(),
            wide in proptest::prelude::any::<u64>(),
            cents in proptest::prelude::any::<i64>(),
            places in 0u32..12,
            written in "-?(0|[1-9][0-9]{0,19})(\\.[0-9]{1,19})?(e-?[1-9][0-9]?)?",
        ) {
            let decimal = (cents >> (places * 4)) as f64 / 10f64.powi(places as i32);
            // Decimal texts as files write them: many are exact ties at
            // their shortest length (6000000000000002e-1 is one).
            let text: f64 = written.parse().unwrap_or(0.0);
            for x in [f64::from(f32::from_bits(bits)), f64::from_bits(wide), decimal, text, 6e14 + 0.25] {
                if !x.is_finite() {
                    continue;
                }
                let (mut fast, mut positional) = (String::new(), String::new());
                push_float(&mut fast, x);
                push_float_positional(&mut positional, x);
                proptest::prop_assert_eq!(fast, positional, "{:e}", x);
            }
        }
    }

    proptest::proptest! {

        /// Every float is written as a shortest text that reads back as
        /// it; on a tie, the even one. Floats from f32 (ties are common
        /// there) and from any bits.
        #[test]
        fn floats_are_written_shortest_and_even_on_ties(
            bits in proptest::prelude::any::<u32>(),
            wide in proptest::prelude::any::<u64>(),
        ) {
            for x in [f64::from(f32::from_bits(bits)), f64::from_bits(wide)] {
                if !x.is_finite() {
                    continue;
                }
                let text = format_float(x);
                proptest::prop_assert_eq!(text.parse::<f64>().ok(), Some(x), "{}", text);
                let rust = format!("{x}");
                let (ours, theirs) = (significant(&text), significant(&rust));
                proptest::prop_assert_eq!(ours.len(), theirs.len(), "{} vs {}", text, rust);
                if ours != theirs {
                    // Only a tie changes the text: the two differ by one in
                    // the last digit, and ours is even.
                    let last = |s: &str| s.bytes().last().map_or(0, |b| b - b'0');
                    proptest::prop_assert_eq!(last(&ours) % 2, 0, "{}", text);
                    proptest::prop_assert_eq!(&ours[..ours.len() - 1], &theirs[..theirs.len() - 1]);
                }
            }
        }
    }
}
