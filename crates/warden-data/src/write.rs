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
    let workers = crate::pool::workers();
    let blocks = table.rows.div_ceil(BLOCK_ROWS);
    let order = Order::new(workers * 2);
    // Workers take blocks in row order and format each into a buffer of
    // their own, at most `ahead` blocks past the last one written; this
    // thread writes (and the writer hashes) the buffers in row order, so
    // formatting never waits for a group of blocks to finish together.
    std::thread::scope(|scope| {
        let (done, formatted) = std::sync::mpsc::channel::<(usize, Vec<u8>)>();
        let mut handles = Vec::new();
        for _ in 0..workers.min(blocks) {
            let done = done.clone();
            let order = &order;
            handles.push(scope.spawn(move || {
                // A worker that panics stops the others, which may be
                // waiting for its block to be written.
                let _stop_on_panic = StopOnPanic(order);
                while let Some(b) = order.take(blocks) {
                    let mut buf = order.spare();
                    let start = b * BLOCK_ROWS;
                    format_rows(table, start, (start + BLOCK_ROWS).min(table.rows), &mut buf);
                    if done.send((b, buf)).is_err() {
                        break;
                    }
                }
            }));
        }
        drop(done);
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0;
        let written = (|| {
            for (b, buf) in formatted.iter() {
                waiting.insert(b, buf);
                while let Some(buf) = waiting.remove(&next) {
                    w.write_all(&buf)?;
                    order.written(buf);
                    next += 1;
                }
            }
            if next == blocks {
                Ok(())
            } else {
                Err(std::io::Error::other("a formatting thread failed"))
            }
        })();
        // Stops the workers if the writer failed.
        order.stop();
        let joined = handles.into_iter().all(|h| h.join().is_ok());
        match written {
            Ok(()) if !joined => Err(std::io::Error::other("a formatting thread failed")),
            other => other,
        }
    })
}

/// Stops an [`Order`] when dropped during a panic.
struct StopOnPanic<'a>(&'a Order);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

/// Rows formatted at a time: about two megabytes of text.
const BLOCK_ROWS: usize = 1 << 14;

/// Which block comes next, how far ahead of the writer the workers may
/// go, and the written buffers to format into again.
struct Order {
    state: std::sync::Mutex<OrderState>,
    moved: std::sync::Condvar,
    ahead: usize,
}

struct OrderState {
    next: usize,
    written: usize,
    stopped: bool,
    spare: Vec<Vec<u8>>,
}

impl Order {
    fn new(ahead: usize) -> Self {
        Order {
            state: std::sync::Mutex::new(OrderState {
                next: 0,
                written: 0,
                stopped: false,
                spare: Vec::new(),
            }),
            moved: std::sync::Condvar::new(),
            ahead: ahead.max(1),
        }
    }

    /// The next block to format, once it is within reach of the writer;
    /// `None` when every block is taken or the writer stopped.
    fn take(&self, blocks: usize) -> Option<usize> {
        let mut s = self.state.lock().ok()?;
        let b = s.next;
        if b >= blocks {
            return None;
        }
        s.next += 1;
        while !s.stopped && b >= s.written + self.ahead {
            s = self.moved.wait(s).ok()?;
        }
        (!s.stopped).then_some(b)
    }

    /// A buffer to format into.
    fn spare(&self) -> Vec<u8> {
        self.state
            .lock()
            .ok()
            .and_then(|mut s| s.spare.pop())
            .unwrap_or_default()
    }

    /// One more block written; its buffer can be formatted into again.
    fn written(&self, mut buf: Vec<u8>) {
        buf.clear();
        if let Ok(mut s) = self.state.lock() {
            s.written += 1;
            s.spare.push(buf);
        }
        self.moved.notify_all();
    }

    fn stop(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.stopped = true;
        }
        self.moved.notify_all();
    }
}

fn format_rows(table: &Table, start: usize, end: usize, out: &mut Vec<u8>) {
    out.reserve((end - start) * 16 * table.columns.len().max(1));
    let mut scratch = String::new();
    for r in start..end {
        let line_start = out.len();
        for (i, c) in table.columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            c.data.with_text(r, &mut scratch, |v| field(out, v));
        }
        if out.len() == line_start {
            // A one-column row with a missing value: an empty line would be
            // skipped by CSV readers, so write an empty quoted field.
            out.extend_from_slice(b"\"\"");
        }
        out.push(b'\n');
    }
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
    fn many_blocks_are_written_in_row_order() {
        use crate::table::{Column, ColumnData};
        let rows = 5 * BLOCK_ROWS + 17;
        let t = Table {
            rows,
            columns: vec![
                Column {
                    name: "i".into(),
                    data: ColumnData::Integer((0..rows as i64).map(Some).collect()),
                },
                Column {
                    name: "x".into(),
                    data: ColumnData::Float((0..rows).map(|r| r as f64 / 8.0).collect()),
                },
            ],
        };
        let mut out = Vec::new();
        write_canonical(&t, &mut out).unwrap();
        let mut want = b"i,x\n".to_vec();
        format_rows(&t, 0, rows, &mut want);
        assert_eq!(out.len(), want.len());
        assert!(out == want, "the blocks were not written in row order");
    }

    #[test]
    fn a_failing_writer_stops_the_formatting() {
        struct Full(usize);
        impl Write for Full {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                if self.0 < b.len() {
                    return Err(std::io::Error::other("disk full"));
                }
                self.0 -= b.len();
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        use crate::table::{Column, ColumnData};
        let rows = 40 * BLOCK_ROWS;
        let t = Table {
            rows,
            columns: vec![Column {
                name: "i".into(),
                data: ColumnData::Integer((0..rows as i64).map(Some).collect()),
            }],
        };
        let e = write_canonical(&t, &mut Full(1 << 20)).unwrap_err();
        assert_eq!(e.to_string(), "disk full");
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
