//! What a SQL backend gives the store's queries: a session inside one
//! transaction that runs a statement with typed arguments and hands back
//! rows of plain values.
//!
//! The queries themselves ([`crate::queries`]) are written once against
//! [`Session`], so SQLite and PostgreSQL answer them with the same SQL. That
//! SQL keeps to what both accept: `TEXT`, `BIGINT` and `DOUBLE PRECISION`
//! columns, numbered placeholders `?1`, `?2`, … (a PostgreSQL session turns
//! them into `$1`, `$2`, …), `ON CONFLICT … DO UPDATE SET x = excluded.x`,
//! and no `LIMIT -1`.

use std::ops::ControlFlow;

use warden_core::Timestamp;

use crate::StoreError;

/// One statement argument, typed even when it is NULL: PostgreSQL must know
/// the type of every placeholder (`?2 IS NULL` alone does not say it).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg<'a> {
    /// A `BIGINT`.
    Int(Option<i64>),
    /// A `DOUBLE PRECISION`.
    Real(Option<f64>),
    /// A `TEXT`.
    Text(Option<&'a str>),
}

impl<'a> Arg<'a> {
    pub(crate) fn text(s: &'a str) -> Self {
        Arg::Text(Some(s))
    }
    pub(crate) fn int(v: i64) -> Self {
        Arg::Int(Some(v))
    }
    /// A count, version or id; the columns are signed, so values beyond
    /// `i64::MAX` (which no counter reaches) are clamped.
    pub(crate) fn uint(v: u64) -> Self {
        Arg::Int(Some(i64::try_from(v).unwrap_or(i64::MAX)))
    }
    pub(crate) fn opt_uint(v: Option<u64>) -> Self {
        Arg::Int(v.map(|v| i64::try_from(v).unwrap_or(i64::MAX)))
    }
    pub(crate) fn opt_text(s: Option<&'a str>) -> Self {
        Arg::Text(s)
    }
    pub(crate) fn flag(b: bool) -> Self {
        Arg::Int(Some(i64::from(b)))
    }
}

/// A value read from a row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Cell {
    fn kind(&self) -> &'static str {
        match self {
            Cell::Null => "NULL",
            Cell::Int(_) => "an integer",
            Cell::Real(_) => "a float",
            Cell::Text(_) => "text",
        }
    }
}

/// One result row. Each getter takes its column's value out, so a row is
/// read once, column by column; a value of the wrong type is a
/// [`StoreError::Row`] naming the column.
#[derive(Debug)]
pub(crate) struct Row {
    cells: Vec<Cell>,
}

impl Row {
    pub(crate) fn new(cells: Vec<Cell>) -> Self {
        Row { cells }
    }

    /// The row's values, in column order.
    pub(crate) fn into_cells(self) -> Vec<Cell> {
        self.cells
    }

    fn take(&mut self, i: usize) -> Result<Cell, StoreError> {
        match self.cells.get_mut(i) {
            Some(c) => Ok(std::mem::replace(c, Cell::Null)),
            None => Err(StoreError::Row(format!("no column {i}"))),
        }
    }

    fn wrong(i: usize, want: &str, got: &Cell) -> StoreError {
        StoreError::Row(format!("column {i}: expected {want}, found {}", got.kind()))
    }

    pub(crate) fn opt_i64(&mut self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.take(i)? {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(v)),
            other => Err(Self::wrong(i, "an integer", &other)),
        }
    }

    pub(crate) fn i64(&mut self, i: usize) -> Result<i64, StoreError> {
        self.opt_i64(i)?
            .ok_or_else(|| StoreError::Row(format!("column {i}: expected an integer, found NULL")))
    }

    /// A count, version or id: never negative in a row Warden wrote.
    pub(crate) fn u64(&mut self, i: usize) -> Result<u64, StoreError> {
        Ok(self.i64(i)?.max(0) as u64)
    }

    pub(crate) fn opt_u64(&mut self, i: usize) -> Result<Option<u64>, StoreError> {
        Ok(self.opt_i64(i)?.map(|v| v.max(0) as u64))
    }

    pub(crate) fn flag(&mut self, i: usize) -> Result<bool, StoreError> {
        Ok(self.i64(i)? != 0)
    }

    pub(crate) fn opt_f64(&mut self, i: usize) -> Result<Option<f64>, StoreError> {
        match self.take(i)? {
            Cell::Null => Ok(None),
            Cell::Real(v) => Ok(Some(v)),
            // SQLite stores a float with an integral value as an integer
            // when the column's affinity allows it.
            Cell::Int(v) => Ok(Some(v as f64)),
            other => Err(Self::wrong(i, "a float", &other)),
        }
    }

    pub(crate) fn opt_text(&mut self, i: usize) -> Result<Option<String>, StoreError> {
        match self.take(i)? {
            Cell::Null => Ok(None),
            Cell::Text(s) => Ok(Some(s)),
            other => Err(Self::wrong(i, "text", &other)),
        }
    }

    pub(crate) fn text(&mut self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Row(format!("column {i}: expected text, found NULL")))
    }

    /// A validated name (actor, role, object, key).
    pub(crate) fn name<T>(
        &mut self,
        i: usize,
        parse: fn(&str) -> Result<T, warden_core::NameError>,
    ) -> Result<T, StoreError> {
        let s = self.text(i)?;
        parse(&s).map_err(|e| StoreError::Row(format!("column {i}: {e}")))
    }

    pub(crate) fn opt_name<T>(
        &mut self,
        i: usize,
        parse: fn(&str) -> Result<T, warden_core::NameError>,
    ) -> Result<Option<T>, StoreError> {
        match self.opt_text(i)? {
            None => Ok(None),
            Some(s) => parse(&s)
                .map(Some)
                .map_err(|e| StoreError::Row(format!("column {i}: {e}"))),
        }
    }

    pub(crate) fn time(&mut self, i: usize) -> Result<Timestamp, StoreError> {
        let s = self.text(i)?;
        parse_time(i, &s)
    }

    pub(crate) fn opt_time(&mut self, i: usize) -> Result<Option<Timestamp>, StoreError> {
        match self.opt_text(i)? {
            None => Ok(None),
            Some(s) => parse_time(i, &s).map(Some),
        }
    }
}

fn parse_time(i: usize, s: &str) -> Result<Timestamp, StoreError> {
    Timestamp::parse(s)
        .ok_or_else(|| StoreError::Row(format!("column {i}: invalid timestamp {s:?}")))
}

/// A transaction on one backend connection.
pub(crate) trait Session {
    /// Runs a query and hands each row to `visit`, in order, until it
    /// breaks or the rows run out.
    fn each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        visit: &mut dyn FnMut(Row) -> Result<ControlFlow<()>, StoreError>,
    ) -> Result<(), StoreError>;

    /// Runs a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError>;

    /// Commits the transaction.
    fn commit(&mut self) -> Result<(), StoreError>;
}

/// Every row of a query, each turned into a `T`.
pub(crate) fn all<T>(
    s: &mut dyn Session,
    sql: &str,
    args: &[Arg<'_>],
    mut map: impl FnMut(Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    s.each(sql, args, &mut |row| {
        out.push(map(row)?);
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(out)
}

/// The first row of a query, if any, turned into a `T`.
pub(crate) fn first<T>(
    s: &mut dyn Session,
    sql: &str,
    args: &[Arg<'_>],
    mut map: impl FnMut(Row) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut out = None;
    s.each(sql, args, &mut |row| {
        out = Some(map(row)?);
        Ok(ControlFlow::Break(()))
    })?;
    Ok(out)
}

/// The one row a query must return (an aggregate, a singleton table).
pub(crate) fn one<T>(
    s: &mut dyn Session,
    sql: &str,
    args: &[Arg<'_>],
    map: impl FnMut(Row) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    first(s, sql, args, map)?.ok_or_else(|| StoreError::Row(format!("no row from {sql:?}")))
}

/// `?1, ?2, …, ?n` starting at `?from`.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_hands_out_each_value_once_and_names_a_bad_column() {
        let mut r = Row::new(vec![
            Cell::Int(3),
            Cell::Text("ana".into()),
            Cell::Null,
            Cell::Int(2),
        ]);
        assert_eq!(r.u64(0).unwrap(), 3);
        assert_eq!(r.text(1).unwrap(), "ana");
        assert_eq!(r.opt_text(2).unwrap(), None);
        assert_eq!(r.opt_f64(3).unwrap(), Some(2.0));
        let err = Row::new(vec![Cell::Text("x".into())]).i64(0).unwrap_err();
        assert!(err.to_string().contains("column 0"), "{err}");
        let err = Row::new(vec![Cell::Text("not a time".into())])
            .time(0)
            .unwrap_err();
        assert!(err.to_string().contains("invalid timestamp"), "{err}");
        assert!(Row::new(vec![]).text(0).is_err());
    }

    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(placeholders(2, 3), "?2, ?3, ?4");
        assert_eq!(placeholders(1, 0), "");
    }
}
