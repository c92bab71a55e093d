//! PII actions and the policy file that chooses them.
//!
//! ```toml
//! # Action per entity; every entity not listed uses the default below.
//! [entities]
//! email = "drop"
//! date_of_birth = "generalise"
//!
//! # Action per column; wins over the entity's action.
//! [columns]
//! customer_id = "pseudonymise"
//! notes = "redact"
//! ```
//!
//! Defaults: a direct identifier (email, phone, SSN, card, IBAN, IP, name,
//! address) in a column that is not a declared feature, target or sensitive
//! attribute is dropped; one in a declared column is kept and reported as
//! unmasked (the gate decides); a date of birth or postcode in a declared
//! column is generalised; the declared `--id` column is pseudonymised; PII
//! embedded in a kept free-text column is redacted.

use std::collections::BTreeMap;

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use crate::DataError;
use crate::pii::{Entity, excluded_by_name, mask_keep_last4, redact_text_excluding};
use crate::table::{ColumnData, MISSING_CODE, format_date};

/// What to do with a column holding PII.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Leave the column out of the stored table.
    Drop,
    /// Keep the last 4 characters.
    Mask,
    /// Replace whole values, or embedded PII in text, with a marker.
    Redact,
    /// Keyed HMAC-SHA256 token: stable, not reversible without the key.
    Pseudonymise,
    /// Age to a 10-year band, date to its year, postcode to 3 characters.
    Generalise,
    /// Store the values unchanged; PII kept this way is reported as unmasked.
    Keep,
}

impl Action {
    /// The action a policy file names: its lower-case name, with the American
    /// spellings `pseudonymize` and `generalize` accepted; `None` for anything
    /// else.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "drop" => Action::Drop,
            "mask" => Action::Mask,
            "redact" => Action::Redact,
            "pseudonymise" | "pseudonymize" => Action::Pseudonymise,
            "generalise" | "generalize" => Action::Generalise,
            "keep" => Action::Keep,
            _ => return None,
        })
    }

    /// The lower-case name, in British spelling (`pseudonymise`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Drop => "drop",
            Action::Mask => "mask",
            Action::Redact => "redact",
            Action::Pseudonymise => "pseudonymise",
            Action::Generalise => "generalise",
            Action::Keep => "keep",
        }
    }
}

/// The parsed policy file.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PiiPolicy {
    /// The action for each entity listed under `[entities]`.
    pub entities: BTreeMap<Entity, Action>,
    /// The action for each column listed under `[columns]`, by name; it wins
    /// over the entity's action.
    pub columns: BTreeMap<String, Action>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    entities: BTreeMap<String, String>,
    #[serde(default)]
    columns: BTreeMap<String, String>,
}

impl PiiPolicy {
    /// Parses a policy file; unknown entities and actions are errors naming them.
    pub fn parse(text: &str, origin: &str) -> Result<Self, DataError> {
        let f: PolicyFile =
            toml::from_str(text).map_err(|e| DataError::Policy(format!("{origin}: {e}")))?;
        let action = |where_: &str, a: &str| {
            Action::parse(a).ok_or_else(|| {
                DataError::Policy(format!(
                    "{origin}: {where_}: unknown action {a:?}; use drop, mask, redact, pseudonymise, generalise or keep"
                ))
            })
        };
        let mut p = PiiPolicy::default();
        for (e, a) in &f.entities {
            let entity = Entity::parse(e).ok_or_else(|| {
                DataError::Policy(format!(
                    "{origin}: unknown entity {e:?}; known: {}",
                    Entity::ALL
                        .iter()
                        .map(|e| e.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            p.entities
                .insert(entity, action(&format!("entities.{e}"), a)?);
        }
        for (c, a) in &f.columns {
            p.columns
                .insert(c.clone(), action(&format!("columns.{c}"), a)?);
        }
        Ok(p)
    }
}

/// Keyed pseudonym of a value: `p_` and 32 hex characters of
/// HMAC-SHA256(key, value).
pub fn pseudonym(key: &[u8], value: &str) -> String {
    Pseudonymiser::new(key).token(value)
}

/// HMAC-SHA256 with the key schedule computed once, for whole columns.
pub struct Pseudonymiser {
    mac: hmac::Hmac<sha2::Sha256>,
}

impl Pseudonymiser {
    /// Keys the HMAC with `key`, of any length.
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        Pseudonymiser { mac }
    }

    /// The pseudonym of `value`: `p_` and 32 hex characters (the first 16
    /// bytes of the HMAC-SHA256 tag), as [`pseudonym`].
    pub fn token(&self, value: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut mac = self.mac.clone();
        mac.update(value.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(34);
        out.push_str("p_");
        for b in &tag[..16] {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }
}

/// Applies `f` to every value. A categorical column stays categorical:
/// `f` runs once per level, and levels that become equal are merged.
fn map_text(data: &ColumnData, f: impl Fn(&str) -> String + Sync) -> ColumnData {
    if let ColumnData::Categorical { codes, levels } = data {
        let mapped: Vec<String> = levels.iter().map(|l| f(l)).collect();
        let mut new_levels = mapped.clone();
        new_levels.sort();
        new_levels.dedup();
        let remap: Vec<u32> = mapped
            .iter()
            .map(|m| {
                new_levels
                    .binary_search(m)
                    .map_or(MISSING_CODE, |i| i as u32)
            })
            .collect();
        let codes = codes
            .iter()
            .map(|&c| remap.get(c as usize).copied().unwrap_or(MISSING_CODE))
            .collect();
        return ColumnData::Categorical {
            codes,
            levels: new_levels,
        };
    }
    // Rows are mapped in runs on every core; the runs' outputs are joined
    // in order, so the column is the one a single pass makes.
    const RUN_ROWS: usize = 1 << 17;
    let n = data.len();
    let runs: Vec<std::ops::Range<usize>> = (0..n)
        .step_by(RUN_ROWS)
        .map(|a| a..(a + RUN_ROWS).min(n))
        .collect();
    let mapped = crate::pool::try_map(runs, crate::pool::workers(), |rows| {
        Ok::<_, crate::pool::WorkerPanicked>(map_rows(data, rows, &f))
    });
    let mut out = crate::table::TextColumn::new();
    match mapped {
        Ok(parts) => parts.into_iter().for_each(|p| out.append(p)),
        // A failed worker left a run unmapped: map every row here.
        Err(_) => out = map_rows(data, 0..n, &f),
    }
    ColumnData::Text(out)
}

/// `f` of the text of each row in `rows` (missing stays missing).
fn map_rows(
    data: &ColumnData,
    rows: std::ops::Range<usize>,
    f: &impl Fn(&str) -> String,
) -> crate::table::TextColumn {
    // Free text repeats (notes, comments): results are remembered per
    // value while that pays (a hit rate of at least 1 in 10).
    const MEMO_MAX: usize = 1 << 16;
    let mut out = crate::table::TextColumn::new();
    let mut scratch = String::new();
    let mut memo: rustc_hash::FxHashMap<String, String> = rustc_hash::FxHashMap::default();
    let (mut lookups, mut hits, mut memo_on) = (0usize, 0usize, true);
    for r in rows {
        data.with_text(r, &mut scratch, |v| {
            if !memo_on {
                out.push(Some(&f(v)));
                return;
            }
            lookups += 1;
            if let Some(m) = memo.get(v) {
                hits += 1;
                out.push(Some(m));
                return;
            }
            let m = f(v);
            out.push(Some(&m));
            if memo.len() < MEMO_MAX {
                memo.insert(v.to_string(), m);
            }
            if lookups == 10_000 && hits < 1_000 {
                memo_on = false;
                memo = rustc_hash::FxHashMap::default();
            }
        })
        .unwrap_or_else(|| out.push(None));
    }
    out
}

/// Applies `action` to a column. `entity` is the column's entity, if any
/// (for `redact`: whole values; otherwise embedded PII is redacted).
/// Returns `None` for `drop`.
pub fn apply(
    action: Action,
    data: &ColumnData,
    entity: Option<Entity>,
    key: &[u8],
    column: &str,
) -> Result<Option<ColumnData>, DataError> {
    Ok(match action {
        Action::Drop => None,
        Action::Keep => Some(data.clone()),
        Action::Mask => Some(map_text(data, mask_keep_last4)),
        Action::Redact => Some(match entity {
            Some(e) => {
                let marker = format!("[{}]", e.as_str().to_ascii_uppercase());
                map_text(data, |_| marker.clone())
            }
            None => {
                let excluded = excluded_by_name(column);
                map_text(data, |v| redact_text_excluding(v, excluded).0)
            }
        }),
        Action::Pseudonymise => {
            let p = Pseudonymiser::new(key);
            Some(map_text(data, |v| p.token(v)))
        }
        Action::Generalise => Some(match data {
            ColumnData::Integer(_) | ColumnData::Float(_) => {
                let n = data.len();
                let band = |x: f64| {
                    let lo = (x / 10.0).floor() * 10.0;
                    format!("{}-{}", lo as i64, lo as i64 + 9)
                };
                let mut levels: Vec<String> = Vec::new();
                let values: Vec<Option<String>> =
                    (0..n).map(|r| data.number(r).map(band)).collect();
                for v in values.iter().flatten() {
                    if !levels.contains(v) {
                        levels.push(v.clone());
                    }
                }
                levels.sort_by_key(|l| {
                    l.split('-')
                        .next()
                        .and_then(|x| x.parse::<i64>().ok())
                        .unwrap_or(0)
                });
                let codes = values
                    .iter()
                    .map(|v| {
                        v.as_ref()
                            .and_then(|v| levels.iter().position(|l| l == v).map(|i| i as u32))
                            .unwrap_or(crate::table::MISSING_CODE)
                    })
                    .collect();
                ColumnData::Categorical { codes, levels }
            }
            ColumnData::Date(v) => ColumnData::Integer(
                v.iter()
                    .map(|d| d.and_then(|d| format_date(d)[..4].parse().ok()))
                    .collect(),
            ),
            ColumnData::Text(_) | ColumnData::Categorical { .. } => {
                let dob = entity == Some(Entity::DateOfBirth);
                map_text(data, |v| {
                    if dob {
                        crate::table::parse_date(v)
                            .map(|d| format_date(d)[..4].to_string())
                            .unwrap_or_else(|| "[DATE]".into())
                    } else {
                        v.chars().take(3).collect()
                    }
                })
            }
            ColumnData::Boolean(_) => {
                return Err(DataError::Policy(format!(
                    "column {column}: a boolean column cannot be generalised; choose drop, redact or keep"
                )));
            }
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_column_maps_in_runs_as_in_one_pass() {
        // Over several runs, with missing values, repeats (the memo) and
        // unique values (the memo switched off) in different runs.
        let n = 3 * (1 << 17) + 77;
        let values: Vec<Option<String>> = (0..n)
            .map(|r| match r % 7 {
                0 => None,
                1 | 2 => Some(format!("note {}", r % 5)),
                _ if r > n / 2 => Some(format!("id-{r}")),
                _ => Some(String::new()),
            })
            .collect();
        let data = ColumnData::Text(crate::table::TextColumn::from_options(
            values.iter().map(Option::as_deref),
        ));
        let f = |v: &str| format!("<{v}>");
        let ColumnData::Text(got) = map_text(&data, f) else {
            panic!("text in, text out");
        };
        assert_eq!(got, map_rows(&data, 0..n, &f));
        assert_eq!(got.len(), n);
        for (r, v) in values.iter().enumerate() {
            assert_eq!(
                got.get(r),
                v.as_ref().map(|v| format!("<{v}>")).as_deref(),
                "row {r}"
            );
        }
    }

    #[test]
    fn policy_errors_name_the_problem() {
        let e = PiiPolicy::parse("[entities]\nemail = \"shred\"\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.toml") && e.contains("shred") && e.contains("entities.email"),
            "{e}"
        );
        let e = PiiPolicy::parse("[entities]\nshoe_size = \"drop\"\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown entity \"shoe_size\""), "{e}");
        let p = PiiPolicy::parse(
            "[entities]\nemail = \"mask\"\n[columns]\nid = \"pseudonymize\"\n",
            "p.toml",
        )
        .unwrap();
        assert_eq!(p.entities[&Entity::Email], Action::Mask);
        assert_eq!(p.columns["id"], Action::Pseudonymise);
    }

    #[test]
    fn pseudonyms_are_keyed_and_stable() {
        assert_eq!(pseudonym(b"k1", "ana"), pseudonym(b"k1", "ana"));
        assert_ne!(pseudonym(b"k1", "ana"), pseudonym(b"k2", "ana"));
        assert_ne!(pseudonym(b"k1", "ana"), pseudonym(b"k1", "anb"));
        assert_eq!(pseudonym(b"k1", "ana").len(), 34);
    }

    #[test]
    fn generalisation() {
        let ages = ColumnData::Integer(vec![Some(34), Some(41), None, Some(39)]);
        let g = apply(Action::Generalise, &ages, None, b"", "age")
            .unwrap()
            .unwrap();
        assert_eq!(
            (0..4).map(|r| g.text(r)).collect::<Vec<_>>(),
            [
                Some("30-39".into()),
                Some("40-49".into()),
                None,
                Some("30-39".into())
            ]
        );
        let dates = ColumnData::Date(vec![crate::table::parse_date("1984-06-02")]);
        assert_eq!(
            apply(Action::Generalise, &dates, None, b"", "dob")
                .unwrap()
                .unwrap(),
            ColumnData::Integer(vec![Some(1984)])
        );
        let zips = ColumnData::Text(crate::table::TextColumn::from_options([Some("94110")]));
        assert_eq!(
            apply(
                Action::Generalise,
                &zips,
                Some(Entity::Postcode),
                b"",
                "zip"
            )
            .unwrap()
            .unwrap()
            .text(0)
            .unwrap(),
            "941"
        );
    }
}
