//! The crate's one worker pool: items handed out one at a time to scoped
//! threads, results returned in item order, and the error of the first
//! failing item (by position) returned.
//!
//! Which worker runs which item, and when, never shows in the result: the
//! output is the same on one thread as on eight.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most workers [`workers`] suggests; the work here gains little beyond.
const MAX_WORKERS: usize = 8;

/// A worker thread panicked, so some items have no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a worker thread failed")]
pub(crate) struct WorkerPanicked;

impl From<WorkerPanicked> for crate::DataError {
    fn from(e: WorkerPanicked) -> Self {
        crate::DataError::Internal(e.to_string())
    }
}

impl From<WorkerPanicked> for std::io::Error {
    fn from(e: WorkerPanicked) -> Self {
        std::io::Error::other(e)
    }
}

/// The number of workers to use: the available cores, 1 to 8.
pub(crate) fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS)
}

/// Runs `f` on every item on up to `workers` threads, handing items out in
/// their order, and returns the results in item order, or the error of the
/// first item (by position) that failed.
pub(crate) fn try_map<T, R, E, F>(items: Vec<T>, workers: usize, f: F) -> Result<Vec<R>, E>
where
    T: Send,
    R: Send,
    E: Send + From<WorkerPanicked>,
    F: Fn(T) -> Result<R, E> + Sync,
{
    let schedule = (0..items.len()).collect();
    run(items, schedule, workers, f)
}

/// [`try_map`], handing the heaviest items out first (ties in item order),
/// so that one large item started last does not leave the other workers
/// idle. Results are still in item order.
pub(crate) fn try_map_heaviest_first<T, R, E, F>(
    items: Vec<T>,
    workers: usize,
    weight: impl Fn(&T) -> usize,
    f: F,
) -> Result<Vec<R>, E>
where
    T: Send,
    R: Send,
    E: Send + From<WorkerPanicked>,
    F: Fn(T) -> Result<R, E> + Sync,
{
    let mut schedule: Vec<usize> = (0..items.len()).collect();
    schedule.sort_by_key(|&i| (std::cmp::Reverse(weight(&items[i])), i));
    run(items, schedule, workers, f)
}

/// One worker's results, by item position.
type Done<R, E> = Vec<(usize, Result<R, E>)>;

/// Runs `f` over `items` in `schedule` order (a permutation of their
/// positions). Once an item fails, items after it are skipped: the first
/// failing item is always run, so the error returned does not depend on
/// timing.
fn run<T, R, E, F>(items: Vec<T>, schedule: Vec<usize>, workers: usize, f: F) -> Result<Vec<R>, E>
where
    T: Send,
    R: Send,
    E: Send + From<WorkerPanicked>,
    F: Fn(T) -> Result<R, E> + Sync,
{
    let n = items.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let next = AtomicUsize::new(0);
    let first_failed = AtomicUsize::new(usize::MAX);
    let work = || {
        let mut out = Vec::new();
        while let Some(&i) = schedule.get(next.fetch_add(1, Ordering::Relaxed)) {
            if i > first_failed.load(Ordering::Relaxed) {
                continue;
            }
            let item = slots
                .get(i)
                .and_then(|slot| slot.lock().ok())
                .and_then(|mut slot| slot.take());
            let Some(item) = item else { continue };
            let result = f(item);
            if result.is_err() {
                first_failed.fetch_min(i, Ordering::Relaxed);
            }
            out.push((i, result));
        }
        out
    };
    let parts: Vec<Option<Done<R, E>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.clamp(1, n)).map(|_| s.spawn(work)).collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    let mut results: Vec<Option<Result<R, E>>> = (0..n).map(|_| None).collect();
    for (i, result) in parts.into_iter().flatten().flatten() {
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(result);
        }
    }
    // An item's own error comes before a missing result (a panicked worker).
    let mut out = Vec::with_capacity(n);
    let mut missing = false;
    for result in results {
        match result {
            Some(Ok(r)) => out.push(r),
            Some(Err(e)) => return Err(e),
            None => missing = true,
        }
    }
    if missing {
        return Err(WorkerPanicked.into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum TestError {
        Item(usize),
        Panicked,
    }

    impl From<WorkerPanicked> for TestError {
        fn from(_: WorkerPanicked) -> Self {
            TestError::Panicked
        }
    }

    /// Items whose cost varies, so that workers finish out of order.
    fn spin(i: usize) -> usize {
        let mut x = i as u64;
        for _ in 0..(i % 7) * 20_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        i * 10
    }

    #[test]
    fn results_come_back_in_item_order_on_any_worker_count() {
        let want: Vec<usize> = (0..50).map(|i| i * 10).collect();
        for w in [1, 2, 3, 8, 100] {
            let got = try_map((0..50).collect(), w, |i| Ok::<_, TestError>(spin(i)));
            assert_eq!(got, Ok(want.clone()), "{w} workers");
            let got = try_map_heaviest_first(
                (0..50).collect(),
                w,
                |&i| i % 7,
                |i| Ok::<_, TestError>(spin(i)),
            );
            assert_eq!(got, Ok(want.clone()), "{w} workers, heaviest first");
        }
    }

    #[test]
    fn the_first_failing_item_gives_the_error() {
        for w in [1, 2, 4] {
            let got = try_map((0..40).collect(), w, |i| {
                if i == 13 || i == 31 {
                    Err(TestError::Item(i))
                } else {
                    Ok(spin(i))
                }
            });
            assert_eq!(got, Err(TestError::Item(13)), "{w} workers");
            // Item 31 is handed out first but 13 still decides the error.
            let got = try_map_heaviest_first(
                (0..40).collect(),
                w,
                |&i| usize::from(i == 31),
                |i| {
                    if i == 13 || i == 31 {
                        Err(TestError::Item(i))
                    } else {
                        Ok(spin(i))
                    }
                },
            );
            assert_eq!(got, Err(TestError::Item(13)), "{w} workers, heaviest first");
        }
    }

    #[test]
    fn no_items_give_no_results() {
        let got = try_map(Vec::<usize>::new(), 4, Ok::<_, TestError>);
        assert_eq!(got, Ok(Vec::new()));
        let got = try_map_heaviest_first(Vec::<usize>::new(), 0, |&i| i, Ok::<_, TestError>);
        assert_eq!(got, Ok(Vec::new()));
    }

    #[test]
    fn one_worker_runs_the_schedule_in_order() {
        let seen = Mutex::new(Vec::new());
        let record = |s: String| {
            if let Ok(mut v) = seen.lock() {
                v.push(s.clone());
            }
            Ok::<_, TestError>(s.len())
        };
        let items = || vec!["bb".to_string(), "a".into(), "dddd".into(), "ccc".into()];
        assert_eq!(try_map(items(), 1, record), Ok(vec![2, 1, 4, 3]));
        assert_eq!(
            try_map_heaviest_first(items(), 1, String::len, record),
            Ok(vec![2, 1, 4, 3])
        );
        // Zero workers means one.
        assert_eq!(try_map(items(), 0, record), Ok(vec![2, 1, 4, 3]));
        let seen = seen.into_inner().unwrap_or_default();
        assert_eq!(
            seen,
            [
                "bb", "a", "dddd", "ccc", "dddd", "ccc", "bb", "a", "bb", "a", "dddd", "ccc"
            ]
        );
    }

    #[test]
    fn a_panicking_worker_is_an_error_not_a_crash() {
        let got = try_map((0..8).collect(), 2, |i: usize| {
            assert!(i != 5, "item 5 panics");
            Ok::<_, TestError>(i)
        });
        assert_eq!(got, Err(TestError::Panicked));
        let err: crate::DataError = WorkerPanicked.into();
        assert!(matches!(err, crate::DataError::Internal(_)));
    }
}
