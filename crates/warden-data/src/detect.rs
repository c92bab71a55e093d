//! Column-level PII detection: a column is judged by its name and by the
//! raw text of its values (as read, before typing, so a card number typed as
//! an integer is still a card number). `ingest` and `profile` share it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::pii::{self, Entity, mask_keep_last4};
use crate::read::RawColumn;
use crate::table::{Column, ColumnData, ColumnType};

/// A column's values must match an entity at least this often to be
/// classified by values alone.
const VALUE_RATIO: f64 = 0.5;
/// With a matching column name, this hit ratio is enough.
const NAMED_RATIO: f64 = 0.1;

/// What detection found in one column.
#[derive(Clone, Debug, Serialize)]
pub struct PiiFinding {
    /// The column's name.
    pub column: String,
    /// The entity the whole column holds, if any.
    pub entity: Option<Entity>,
    /// Fraction of non-missing values that matched `entity`.
    pub hit_ratio: f64,
    /// `name`, `values` or `name+values`.
    pub evidence: String,
    /// Entities embedded in free text, with the fraction of values holding each.
    pub embedded: BTreeMap<Entity, f64>,
    /// Up to three matching values, masked.
    pub examples: Vec<String>,
}

impl PiiFinding {
    /// Whether nothing was found: no column entity and no embedded entity.
    pub fn is_empty(&self) -> bool {
        self.entity.is_none() && self.embedded.is_empty()
    }
}

/// Most values of a plain (mostly unique) column inspected to classify it;
/// columns that are kept are scanned in full for embedded PII.
pub(crate) const DETECT_SAMPLE: usize = 20_000;

/// Distinct values with their counts (categoricals) or every value as text
/// (others: numbers are judged on their text too).
fn values(data: &ColumnData) -> Vec<(String, usize)> {
    match data {
        ColumnData::Categorical { codes, levels } => {
            let mut counts = vec![0usize; levels.len()];
            for c in codes.iter().filter(|c| **c != crate::table::MISSING_CODE) {
                counts[*c as usize] += 1;
            }
            levels
                .iter()
                .cloned()
                .zip(counts)
                .filter(|(_, n)| *n > 0)
                .collect()
        }
        ColumnData::Text(v) => v.iter().flatten().map(|s| (s.to_string(), 1)).collect(),
        other => (0..other.len())
            .filter_map(|r| other.text(r).map(|s| (s, 1)))
            .collect(),
    }
}

/// Classifies a column as read (before typing) on a sample of its values;
/// `ty` is the type it will have.
pub(crate) fn detect_raw(col: &RawColumn, ty: ColumnType) -> PiiFinding {
    let vals = col.value_counts(Some(DETECT_SAMPLE));
    detect_values(&col.name, ty, vals.iter().copied())
}

/// The entities embedded in every value of a text column, with the
/// fraction of values holding each: each distinct value is scanned once
/// (in first-seen order, so fractions are the same as scanning every row),
/// which spares the detectors millions of repeats.
pub(crate) fn embedded_everywhere(col: &RawColumn, ty: ColumnType) -> BTreeMap<Entity, f64> {
    let all = col.value_counts(None);
    let mut seen: rustc_hash::FxHashMap<&str, usize> = rustc_hash::FxHashMap::default();
    let mut order: Vec<&str> = Vec::new();
    for (v, n) in all.iter() {
        match seen.entry(v) {
            std::collections::hash_map::Entry::Occupied(mut e) => *e.get_mut() += *n,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(*n);
                order.push(v);
            }
        }
    }
    let distinct: Vec<(&str, usize)> = order.iter().map(|v| (*v, seen[v])).collect();
    drop(all);
    detect_values(&col.name, ty, distinct.iter().copied()).embedded
}

/// What `profile` and `ingest` both report for a column: classified on a
/// sample, and when it holds text and no entity, scanned in full for
/// embedded PII.
pub(crate) fn detect_raw_full(col: &RawColumn, ty: ColumnType) -> PiiFinding {
    let mut f = detect_raw(col, ty);
    if f.entity.is_none() && matches!(ty, ColumnType::Text | ColumnType::Categorical) {
        f.embedded = embedded_everywhere(col, ty);
    }
    f
}

/// Looks for PII in one column, by its name and its values.
pub fn detect_column(col: &Column) -> PiiFinding {
    let vals = values(&col.data);
    detect_values(
        &col.name,
        col.data.column_type(),
        vals.iter().map(|(v, n)| (v.as_str(), *n)),
    )
}

/// Looks for PII in a column given as (value, count) pairs: its distinct
/// values with their counts, every value, or a sample.
pub fn detect_values<'a>(
    name: &str,
    ty: ColumnType,
    vals: impl Iterator<Item = (&'a str, usize)> + Clone,
) -> PiiFinding {
    let by_name = pii::entity_from_name(name);
    let excluded = pii::excluded_by_name(name);
    let mut finding = PiiFinding {
        column: name.to_string(),
        entity: None,
        hit_ratio: 0.0,
        evidence: String::new(),
        embedded: BTreeMap::new(),
        examples: Vec::new(),
    };
    // Dates of birth and postcodes are recognisable only with the column's name.
    if matches!(by_name, Some(Entity::DateOfBirth))
        && matches!(
            ty,
            ColumnType::Date | ColumnType::Text | ColumnType::Categorical
        )
    {
        finding.entity = by_name;
        finding.hit_ratio = 1.0;
        finding.evidence = "name".into();
        return finding;
    }
    if matches!(by_name, Some(Entity::Postcode)) {
        finding.entity = by_name;
        finding.hit_ratio = 1.0;
        finding.evidence = "name".into();
        return finding;
    }
    let total: usize = vals.clone().map(|(_, n)| n).sum();
    if total == 0 {
        if let Some(e) = by_name {
            finding.entity = Some(e);
            finding.evidence = "name".into();
        }
        return finding;
    }
    let free_text = matches!(ty, ColumnType::Text | ColumnType::Categorical);
    let vals: Vec<(&str, usize)> = vals.collect();
    let Tally {
        hits,
        mut embedded,
        mut examples,
    } = Tally::over_all(&vals, by_name, excluded, free_text);
    let best = hits
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(e, n)| (*e, *n as f64 / total as f64));
    match (best, by_name) {
        (Some((e, r)), _) if r >= VALUE_RATIO => {
            finding.entity = Some(e);
            finding.hit_ratio = r;
            finding.evidence = if by_name == Some(e) {
                "name+values"
            } else {
                "values"
            }
            .into();
        }
        (_, Some(named)) => {
            let r = hits.get(&named).map_or(0.0, |n| *n as f64 / total as f64);
            if r >= NAMED_RATIO || named == Entity::Name {
                finding.entity = Some(named);
                finding.hit_ratio = r;
                finding.evidence = if r > 0.0 { "name+values" } else { "name" }.into();
            }
        }
        _ => {}
    }
    if let Some(e) = finding.entity {
        finding.examples = examples.remove(&e).unwrap_or_default();
    }
    // Whole-value hits in a free-text column that did not qualify the
    // column also count as embedded PII. In a column of numbers they are
    // chance (one 13-digit article number in ten passes a card's checks).
    if free_text {
        for (e, n) in hits {
            if Some(e) != finding.entity {
                *embedded.entry(e).or_default() += n;
            }
        }
    }
    finding.embedded = embedded
        .into_iter()
        .map(|(e, n)| (e, n as f64 / total as f64))
        .collect();
    finding
}

/// What the per-value checks found in some of a column's values.
#[derive(Default)]
struct Tally {
    /// Values that are an entity whole, by entity (weighted by count).
    hits: BTreeMap<Entity, usize>,
    /// Values holding an entity inside longer text, by entity.
    embedded: BTreeMap<Entity, usize>,
    /// The first three whole-value hits of each entity, masked, in value order.
    examples: BTreeMap<Entity, Vec<String>>,
}

/// At least this many values are checked on every core; fewer on one.
const PARALLEL_VALUES: usize = 8192;

impl Tally {
    /// Checks `vals` in order.
    fn over(
        vals: &[(&str, usize)],
        by_name: Option<Entity>,
        excluded: Option<Entity>,
        free_text: bool,
    ) -> Tally {
        let mut t = Tally::default();
        for &(v, n) in vals {
            let whole = pii::value_entity_in_column(v, by_name, excluded);
            if let Some(e) = whole {
                *t.hits.entry(e).or_default() += n;
                let ex = t.examples.entry(e).or_default();
                if ex.len() < 3 {
                    ex.push(mask_keep_last4(v));
                }
            } else if free_text && v.len() > 12 {
                let mut seen = Vec::new();
                for s in pii::find_in_text_excluding(v, excluded) {
                    if !seen.contains(&s.entity) {
                        seen.push(s.entity);
                        *t.embedded.entry(s.entity).or_default() += n;
                    }
                }
            }
        }
        t
    }

    /// [`Tally::over`] on every core for many values: the values are cut
    /// into consecutive runs whose tallies are merged in order, so the
    /// counts and the examples are those of one pass.
    fn over_all(
        vals: &[(&str, usize)],
        by_name: Option<Entity>,
        excluded: Option<Entity>,
        free_text: bool,
    ) -> Tally {
        let workers = crate::pool::workers();
        if vals.len() < PARALLEL_VALUES || workers == 1 {
            return Tally::over(vals, by_name, excluded, free_text);
        }
        let runs: Vec<&[(&str, usize)]> = vals.chunks(vals.len().div_ceil(workers * 4)).collect();
        let parts = crate::pool::try_map(runs, workers, |run| {
            Ok::<_, crate::pool::WorkerPanicked>(Tally::over(run, by_name, excluded, free_text))
        });
        match parts {
            Ok(parts) => parts.into_iter().fold(Tally::default(), Tally::then),
            // A failed worker left a run unchecked: check everything here.
            Err(_) => Tally::over(vals, by_name, excluded, free_text),
        }
    }

    /// This tally followed by `later`'s, as if their values were checked
    /// in one pass.
    fn then(mut self, later: Tally) -> Tally {
        for (e, n) in later.hits {
            *self.hits.entry(e).or_default() += n;
        }
        for (e, n) in later.embedded {
            *self.embedded.entry(e).or_default() += n;
        }
        for (e, ex) in later.examples {
            let mine = self.examples.entry(e).or_default();
            let room = 3usize.saturating_sub(mine.len());
            mine.extend(ex.into_iter().take(room));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_values_are_checked_in_runs_as_in_one_pass() {
        // Whole-value hits of two kinds spread over the runs (examples come
        // from the first runs, in order), embedded PII and plain text.
        let owned: Vec<String> = (0..3 * PARALLEL_VALUES + 11)
            .map(|i| match i % 97 {
                5 => format!("user{i}@example.com"),
                9 => format!("call 415-555-{:04} today please", i % 10_000),
                13 => format!("4111 1111 1111 {:04}", 1111),
                _ => format!("plain note number {i}"),
            })
            .collect();
        let vals: Vec<(&str, usize)> = owned
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_str(), 1 + i % 3))
            .collect();
        let one = Tally::over(&vals, None, None, true);
        let runs = Tally::over_all(&vals, None, None, true);
        assert_eq!(runs.hits, one.hits);
        assert_eq!(runs.embedded, one.embedded);
        assert_eq!(runs.examples, one.examples);
        assert!(
            one.hits.len() >= 2 && !one.embedded.is_empty(),
            "{:?}",
            one.hits
        );
    }

    fn text(name: &str, v: &[&str]) -> Column {
        Column {
            name: name.into(),
            data: ColumnData::Text(crate::table::TextColumn::from_options(
                v.iter().map(|s| Some(*s)),
            )),
        }
    }

    #[test]
    fn columns_by_values_and_by_name() {
        let f = detect_column(&text("contact", &["a@x.com", "b@y.org", "c@z.net", "n/a"]));
        assert_eq!(f.entity, Some(Entity::Email));
        assert!((f.hit_ratio - 0.75).abs() < 1e-9);
        assert_eq!(f.examples[0], mask_keep_last4("a@x.com"));
        let f = detect_column(&text(
            "passenger",
            &["Braund, Mr. Owen Harris", "Heikkinen, Miss. Laina"],
        ));
        assert_eq!(f.entity, Some(Entity::Name), "titled names count by value");
        let f = detect_column(&text("product", &["Premium Plus", "Gold Card", "Basic"]));
        assert_eq!(f.entity, None, "{f:?}");
        let f = detect_column(&text(
            "name",
            &["Braund, Mr. Owen Harris", "Heikkinen, Miss. Laina"],
        ));
        assert_eq!(f.entity, Some(Entity::Name));
        let f = detect_column(&text("ticket", &["A/5 21171", "PC 17599", "113803"]));
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn free_text_with_embedded_pii() {
        let f = detect_column(&text(
            "notes",
            &[
                "customer asked to be called back at 415-555-0132 tomorrow",
                "paid on time, no issues reported by the branch",
                "wrote from jane.doe@example.com about the late fee",
            ],
        ));
        assert_eq!(f.entity, None);
        assert!(
            f.embedded.contains_key(&Entity::Phone) && f.embedded.contains_key(&Entity::Email),
            "{f:?}"
        );
    }
}
