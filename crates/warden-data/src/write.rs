//! The canonical form of a clean table: the bytes that are hashed, stored
//! and read back.
//!
//! UTF-8 CSV, `,` separated, `\n` line ends, a header row, fields quoted
//! (RFC 4180) only when they contain `,`, `"`, a line break or leading or
//! trailing spaces; a missing value is an empty field; integers in decimal,
//! floats as the shortest text that reads back to the same number (always
//! with a `.` or exponent), booleans `true`/`false`, dates `YYYY-MM-DD`.
//! A row that would be an empty line (one column, missing) is written `""`.
//! The column types travel beside the bytes in the dataset's schema.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::table::{ColumnType, Table};

/// A column of the canonical form's schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// The column's name.
    pub name: String,
    /// The column's type, serialised as `type`.
    #[serde(rename = "type")]
    pub column_type: ColumnType,
}

/// The table's schema: every column's name and type, in order.
pub fn schema(table: &Table) -> Vec<ColumnSchema> {
    table
        .columns
        .iter()
        .map(|c| ColumnSchema {
            name: c.name.clone(),
            column_type: c.data.column_type(),
        })
        .collect()
}

pub(crate) fn field(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let needs_quotes = match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            matches!(first, b' ' | b'\t')
                || matches!(last, b' ' | b'\t')
                || b.iter().any(|c| matches!(c, b',' | b'"' | b'\n' | b'\r'))
        }
        _ => true,
    };
    if needs_quotes {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// Writes the canonical CSV of `table`. Blocks of rows are formatted on
/// every core and written in order.
pub fn write_canonical(table: &Table, w: &mut dyn Write) -> std::io::Result<()> {
    let mut header = Vec::with_capacity(256);
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            header.push(b',');
        }
        field(&mut header, &c.name);
    }
    header.push(b'\n');
    w.write_all(&header)?;
    const BLOCK: usize = 1 << 15;
    let workers = crate::pool::workers();
    let blocks: Vec<(usize, usize)> = (0..table.rows)
        .step_by(BLOCK)
        .map(|start| (start, (start + BLOCK).min(table.rows)))
        .collect();
    // One block per worker at a time, formatted while the group before is
    // written (and hashed, by the writer), so at most two groups of
    // `workers` formatted blocks are held at once.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(1);
        let formatter = scope.spawn(move || -> std::io::Result<()> {
            for group in blocks.chunks(workers) {
                let formatted = crate::pool::try_map(group.to_vec(), workers, |(a, b)| {
                    Ok::<_, std::io::Error>(format_rows(table, a, b))
                })?;
                if tx.send(formatted).is_err() {
                    // The writer failed; its error is the one returned.
                    break;
                }
            }
            Ok(())
        });
        let written = rx
            .iter()
            .try_for_each(|group| group.iter().try_for_each(|buf| w.write_all(buf)));
        // Dropping the receiver stops the formatter if the writer failed.
        drop(rx);
        let formatted = formatter
            .join()
            .map_err(|_| std::io::Error::other("the formatting thread failed"))?;
        written.and(formatted)
    })
}

fn format_rows(table: &Table, start: usize, end: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity((end - start) * 16 * table.columns.len().max(1));
    let mut scratch = String::new();
    for r in start..end {
        let line_start = out.len();
        for (i, c) in table.columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            c.data.with_text(r, &mut scratch, |v| field(&mut out, v));
        }
        if out.len() == line_start {
            // A one-column row with a missing value: an empty line would be
            // skipped by CSV readers, so write an empty quoted field.
            out.extend_from_slice(b"\"\"");
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{CsvOptions, read_csv};

    #[test]
    fn canonical_form_is_stable_and_reads_back() {
        let src = "b,a,t\n1.50,\"x, y\",true\n2,  pad,\n";
        let (t, _) = read_csv(&mut src.as_bytes(), &CsvOptions::default()).unwrap();
        let mut out = Vec::new();
        write_canonical(&t, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "b,a,t\n1.5,\"x, y\",true\n2.0,\"  pad\",\n"
        );
        let (back, _) = read_csv(&mut out.as_slice(), &CsvOptions::default()).unwrap();
        let mut again = Vec::new();
        write_canonical(&back, &mut again).unwrap();
        assert_eq!(out, again);
    }

    #[test]
    fn a_missing_value_in_a_one_column_table_survives() {
        // Found by the `csv` fuzz target: an empty line is not a record.
        let (t, _) = read_csv(&mut &b"v\nNA\nx\n"[..], &CsvOptions::default()).unwrap();
        let mut out = Vec::new();
        write_canonical(&t, &mut out).unwrap();
        assert_eq!(out, b"v\n\"\"\nx\n");
        let (back, _) = read_csv(&mut out.as_slice(), &CsvOptions::default()).unwrap();
        assert_eq!(back.rows, 2);
        assert!(back.columns[0].data.is_null(0));
    }
}
