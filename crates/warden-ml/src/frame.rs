//! The training input: named feature columns and class labels, and the
//! dense matrix the models work on.
//!
//! The engine converts a stored dataset's typed table into a [`Frame`]; this
//! crate does not depend on the data crate, so a frame can also be built from
//! records at serving time.

use std::ops::Range;

/// The code of a missing categorical value.
pub const MISSING: u32 = u32::MAX;

/// One feature column. A NaN marks a missing numeric value.
#[derive(Clone, Debug, PartialEq)]
pub enum FeatureColumn {
    /// Numeric values, one per row; NaN marks a missing value.
    Numeric(Vec<f64>),
    /// Codes index into `levels`; [`MISSING`] marks a missing value.
    Categorical {
        /// One code per row: an index into `levels`, or [`MISSING`].
        codes: Vec<u32>,
        /// The category names the codes index.
        levels: Vec<String>,
    },
}

impl FeatureColumn {
    /// The number of rows (values) in the column.
    pub fn len(&self) -> usize {
        match self {
            FeatureColumn::Numeric(v) => v.len(),
            FeatureColumn::Categorical { codes, .. } => codes.len(),
        }
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Named feature columns of equal length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    /// Column names, distinct, in the order of `columns`.
    pub names: Vec<String>,
    /// The columns, each with `rows` values.
    pub columns: Vec<FeatureColumn>,
    /// The number of rows (0 until the first column is pushed).
    pub rows: usize,
}

impl Frame {
    /// Adds a column; every column must have `rows` values.
    pub fn push(
        &mut self,
        name: impl Into<String>,
        column: FeatureColumn,
    ) -> Result<(), crate::MlError> {
        let name = name.into();
        if self.names.is_empty() {
            self.rows = column.len();
        } else if column.len() != self.rows {
            return Err(crate::MlError::Input(format!(
                "column {name}: {} values, expected {}",
                column.len(),
                self.rows
            )));
        }
        if self.names.contains(&name) {
            return Err(crate::MlError::Input(format!("column {name} given twice")));
        }
        self.names.push(name);
        self.columns.push(column);
        Ok(())
    }

    /// The column called `name`, or `None` if the frame has no such column.
    pub fn column(&self, name: &str) -> Option<&FeatureColumn> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| &self.columns[i])
    }
}

/// Class labels: `y[i]` indexes `classes` (sorted, at least two).
#[derive(Clone, Debug, PartialEq)]
pub struct Labels {
    /// The class names, sorted.
    pub classes: Vec<String>,
    /// One label per row: an index into `classes`.
    pub y: Vec<u32>,
}

/// A dense row-major matrix of `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// The number of rows.
    pub rows: usize,
    /// The number of columns.
    pub cols: usize,
    /// The `rows × cols` values, row by row: element (i, j) is at `i * cols + j`.
    pub data: Vec<f64>,
}

impl Matrix {
    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Row `i` (`cols` values); panics if `i` is out of range.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i` (`cols` values), mutably; panics if `i` is out of range.
    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// Rows per block of parallel work. Results are computed per block and
/// combined in block order, so they do not depend on the thread count.
pub const BLOCK: usize = 4096;

/// Runs `f` over `0..n` in blocks of [`BLOCK`] on up to `threads` threads
/// and returns the per-block results in block order.
pub fn par_blocks<R: Send>(
    n: usize,
    threads: usize,
    f: impl Fn(Range<usize>) -> R + Sync,
) -> Vec<R> {
    let blocks: Vec<Range<usize>> = (0..n.div_ceil(BLOCK))
        .map(|b| b * BLOCK..((b + 1) * BLOCK).min(n))
        .collect();
    let threads = threads.clamp(1, blocks.len().max(1));
    if threads == 1 {
        return blocks.into_iter().map(&f).collect();
    }
    let per = blocks.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = blocks
            .chunks(per)
            .map(|group| {
                let f = &f;
                s.spawn(move || group.iter().cloned().map(f).collect::<Vec<R>>())
            })
            .collect();
        // A worker can only fail by panicking, which is a bug: resume it.
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Maps `f` over `items` on up to `threads` threads, results in item order.
pub fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|group| {
                let f = &f;
                s.spawn(move || group.iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_come_back_in_order_on_any_thread_count() {
        let n = BLOCK * 5 + 17;
        let one = par_blocks(n, 1, |r| (r.start, r.end));
        for t in 2..6 {
            assert_eq!(par_blocks(n, t, |r| (r.start, r.end)), one);
        }
        assert_eq!(one.last(), Some(&(BLOCK * 5, n)));
        assert!(par_blocks(0, 3, |r| r.len()).is_empty());
    }

    #[test]
    fn frame_refuses_ragged_and_duplicate_columns() {
        let mut f = Frame::default();
        f.push("a", FeatureColumn::Numeric(vec![1.0, 2.0])).unwrap();
        assert!(f.push("b", FeatureColumn::Numeric(vec![1.0])).is_err());
        assert!(f.push("a", FeatureColumn::Numeric(vec![1.0, 2.0])).is_err());
    }
}
