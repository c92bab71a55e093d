//! The ingest pipeline: raw bytes to a clean, minimised table and a report.
//!
//! Order (stopping at the first failing stage): integrity, parsing and
//! typing, validation, PII detection, PII actions, minimisation, poisoning
//! screen. Nothing here writes anywhere; the engine stores the result.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher as _};
use std::io::Read;

use serde::Serialize;
use warden_core::Digest;

use crate::DataError;
use crate::detect::{PiiFinding, detect_raw, embedded_everywhere};
use crate::pii::Entity;
use crate::policy::{Action, PiiPolicy, apply};
use crate::read::{CsvOptions, Hashing, RawColumn, convert, infer, read_raw_with};
use crate::schema::{ExpectationResult, Schema, type_failure, validate};
use crate::screen::{ScreenOptions, ScreenReport, screen};
use crate::table::{Column, ColumnType, Table};
use crate::write::{ColumnSchema, schema};

/// What to ingest and how.
#[derive(Clone, Debug, Default)]
pub struct IngestSpec {
    /// How to read the CSV: delimiter, quoting and size limits.
    pub csv: CsvOptions,
    /// Abort unless the source bytes hash to this.
    pub expected_digest: Option<Digest>,
    /// Declared column types and expectations to validate; its `[dataset]`
    /// section supplies the roles left unset here. `None` declares nothing.
    pub schema: Option<Schema>,
    /// The label column; `None` takes the schema's target, if any.
    pub target: Option<String>,
    /// Declared features; `None` means every column that is not the
    /// target, id, a sensitive attribute or PII.
    pub features: Option<Vec<String>>,
    /// Sensitive attributes: kept, but not as features. Empty takes the
    /// schema's.
    pub sensitive: Vec<String>,
    /// The row id column, pseudonymised unless the policy names another
    /// action; `None` takes the schema's id, if any.
    pub id: Option<String>,
    /// PII actions by entity and by column, overriding the defaults.
    pub pii_policy: PiiPolicy,
    /// Key for pseudonyms (the workspace's secret).
    pub pseudonym_key: PseudonymKey,
    /// Run the poisoning screen (needs a target).
    pub screen: Option<ScreenOptions>,
    /// The previous version of this dataset, for shift checks.
    pub previous: Option<Table>,
    /// Leave the screen's suspect rows out of the stored table.
    pub drop_suspects: bool,
}

/// The workspace secret that keys pseudonyms; never printed.
#[derive(Clone, Default)]
pub struct PseudonymKey(pub Vec<u8>);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(<secret>)")
    }
}

/// A PII action taken on a column.
#[derive(Clone, Debug, Serialize)]
pub struct ActionTaken {
    /// The column's name.
    pub column: String,
    /// The entity the whole column holds; `None` when it holds none.
    pub entity: Option<Entity>,
    /// Entities found embedded in the column's free text.
    pub embedded: Vec<Entity>,
    /// The action applied.
    pub action: Action,
    /// `policy` when the policy file chose it, else `default`.
    pub by: String,
}

/// A source column left out of the stored table.
#[derive(Clone, Debug, Serialize)]
pub struct DroppedColumn {
    /// The column's name.
    pub column: String,
    /// Why, in words: not declared, or PII dropped by the policy or by
    /// default.
    pub reason: String,
}

/// What PII detection found and what was done about it.
#[derive(Clone, Debug, Serialize)]
pub struct PiiReport {
    /// The columns in which anything was found, in source order.
    pub findings: Vec<PiiFinding>,
    /// The PII actions taken, drops included, in source order.
    pub actions: Vec<ActionTaken>,
    /// Every entity detected anywhere in the source.
    pub detected: Vec<Entity>,
    /// `column:entity` pairs whose raw values remain in the output.
    pub unmasked: Vec<String>,
}

/// Everything ingest found and did.
#[derive(Clone, Debug, Serialize)]
pub struct DataReport {
    /// SHA-256 of the input bytes.
    pub source_digest: Digest,
    /// Size of the input, in bytes.
    pub source_bytes: u64,
    /// Data rows in the input, the header not counted.
    pub source_rows: usize,
    /// Every input column with its type, declared by the schema or inferred.
    pub source_columns: Vec<ColumnSchema>,
    /// Every expectation checked, declared types included; all passed, as a
    /// failure stops ingest.
    pub expectations: Vec<ExpectationResult>,
    /// Input rows identical to an earlier row in every field (compared by a
    /// 64-bit hash of the raw fields).
    pub duplicate_rows: usize,
    /// What PII was found and what was done about it.
    pub pii: PiiReport,
    /// The stored table's column names, in order.
    pub kept: Vec<String>,
    /// The input columns left out, with why.
    pub dropped: Vec<DroppedColumn>,
    /// The label column, from the spec or else the schema; `None` if neither
    /// names one.
    pub target: Option<String>,
    /// The row id column, from the spec or else the schema; `None` if neither
    /// names one.
    pub id: Option<String>,
    /// The sensitive attributes, from the spec or else the schema.
    pub sensitive: Vec<String>,
    /// The columns kept as features, in source order.
    pub features: Vec<String>,
    /// The poisoning screen's report; `None` when it did not run (no screen
    /// options or no target).
    pub screen: Option<ScreenReport>,
    /// Suspect rows left out of the stored table (`--drop-suspects`), by
    /// source row number; `None` when they were kept.
    pub dropped_suspects: Option<crate::screen::RowList>,
    /// Rows in the stored table.
    pub output_rows: usize,
    /// The stored table's columns with their types.
    pub output_columns: Vec<ColumnSchema>,
}

/// The clean table and the report.
#[derive(Debug)]
pub struct Ingested {
    /// The table to store: minimised, with PII actions applied and, if
    /// asked, the suspect rows left out.
    pub table: Table,
    /// Everything ingest found and did.
    pub report: DataReport,
}

/// Counts rows identical to an earlier row in every column.
pub fn duplicate_rows(table: &Table) -> usize {
    count_duplicates(table.rows, |r, h| {
        for c in &table.columns {
            c.data.text(r).hash(h);
        }
    })
}

/// Counts rows whose 64-bit hash was seen before (at millions of rows the
/// chance of a false match is below one in a million).
fn count_duplicates(rows: usize, hash_row: impl Fn(usize, &mut rustc_hash::FxHasher)) -> usize {
    let mut seen: rustc_hash::FxHashSet<u64> = rustc_hash::FxHashSet::default();
    seen.reserve(rows);
    let mut dups = 0;
    for r in 0..rows {
        let mut h = rustc_hash::FxHasher::default();
        hash_row(r, &mut h);
        if !seen.insert(h.finish()) {
            dups += 1;
        }
    }
    dups
}

fn check_declared(present: &[&str], spec: &IngestSpec) -> Result<(), DataError> {
    let mut missing = Vec::new();
    let mut named: Vec<&String> = spec
        .target
        .iter()
        .chain(&spec.id)
        .chain(&spec.sensitive)
        .collect();
    if let Some(f) = &spec.features {
        named.extend(f);
    }
    for n in named {
        if !present.contains(&n.as_str()) && !missing.contains(&n.as_str()) {
            missing.push(n.as_str());
        }
    }
    if !missing.is_empty() {
        return Err(DataError::Columns(format!(
            "declared column(s) {} not in the file; it has: {}",
            missing.join(", "),
            present.join(", ")
        )));
    }
    if let Some(t) = &spec.target
        && spec.features.as_ref().is_some_and(|f| f.contains(t))
    {
        return Err(DataError::Columns(format!(
            "the target {t} cannot also be a feature"
        )));
    }
    Ok(())
}

/// What happens to one column: its role, the role it is kept under, and
/// its PII action with who chose it.
struct Decision {
    role: &'static str,
    keep_role: &'static str,
    action: Option<Action>,
    by: &'static str,
}

impl Decision {
    fn dropped(&self) -> bool {
        self.keep_role == "undeclared" || self.action == Some(Action::Drop)
    }
}

/// Decides a column's fate from its finding. Used twice with the same
/// logic: early, on the first rows (to stop keeping values of columns that
/// will be dropped), and finally.
fn decide(
    spec: &IngestSpec,
    declared: Option<&BTreeSet<&str>>,
    name: &str,
    f: &PiiFinding,
) -> Decision {
    let role = if spec.target.as_deref() == Some(name) {
        "target"
    } else if spec.id.as_deref() == Some(name) {
        "id"
    } else if spec.sensitive.iter().any(|s| s == name) {
        "sensitive"
    } else if declared.is_some_and(|d| d.contains(name)) {
        "feature"
    } else {
        "undeclared"
    };
    // Undeclared columns without PII: features by default, unless features
    // were declared.
    let keep_role = match role {
        "undeclared" if declared.is_none() && f.entity.is_none() => "feature",
        other => other,
    };
    let (action, by) = if let Some(a) = spec.pii_policy.columns.get(name) {
        (Some(*a), "policy")
    } else if role == "id" {
        (Some(Action::Pseudonymise), "default")
    } else if let Some(e) = f.entity {
        match spec.pii_policy.entities.get(&e) {
            Some(a) => (Some(*a), "policy"),
            None if keep_role == "undeclared" => (Some(Action::Drop), "default"),
            None if !e.is_direct_identifier() => (Some(Action::Generalise), "default"),
            None => (Some(Action::Keep), "default"),
        }
    } else if !f.embedded.is_empty() && keep_role != "undeclared" {
        (Some(Action::Redact), "default")
    } else {
        (None, "")
    };
    Decision {
        role,
        keep_role,
        action,
        by,
    }
}

/// A surviving column to convert to its type and apply its action to.
struct Job {
    name: String,
    raw: RawColumn,
    ty: ColumnType,
    action: Option<Action>,
    entity: Option<Entity>,
}

/// Converts the surviving columns on every core, keeping their order.
fn convert_all(jobs: Vec<Job>, key: &[u8]) -> Result<Vec<Column>, DataError> {
    let run = |job: Job| -> Result<Column, DataError> {
        // A text column with few distinct values, masked, redacted or
        // pseudonymised: each distinct value is mapped once.
        if let (ColumnType::Text, Some(a @ (Action::Mask | Action::Redact | Action::Pseudonymise))) =
            (job.ty, job.action)
            && let Some(levels) = job.raw.as_levels()
        {
            drop(job.raw);
            let mapped = apply(a, &levels, job.entity, key, &job.name)?
                .ok_or_else(|| DataError::Internal("drop is handled before conversion".into()))?;
            return Ok(Column {
                name: job.name,
                data: mapped.into_text(),
            });
        }
        let typed = convert(&job.raw, job.ty, 0).map_err(|_| {
            DataError::Internal(format!("column {} did not convert to {}", job.name, job.ty))
        })?;
        drop(job.raw);
        let data = match job.action {
            None => typed,
            Some(a) => apply(a, &typed, job.entity, key, &job.name)?
                .ok_or_else(|| DataError::Internal("drop is handled before conversion".into()))?,
        };
        Ok(Column {
            name: job.name,
            data,
        })
    };
    // Heaviest columns first, handed out one at a time: one long text
    // column does not leave the other cores idle.
    crate::pool::try_map_heaviest_first(
        jobs,
        crate::pool::workers(),
        |job| job.raw.plain_bytes(),
        run,
    )
}

/// Runs the whole pipeline over CSV bytes from `input`.
///
/// Columns are classified on their raw text; only the columns that survive
/// minimisation are converted to typed columns, so dropped PII never costs
/// typed storage.
pub fn ingest(input: &mut (dyn Read + Send), spec: &IngestSpec) -> Result<Ingested, DataError> {
    // Roles: flags win over the schema's [dataset] section.
    let schema_decl = spec.schema.clone().unwrap_or_default();
    let mut spec = spec.clone();
    let d = &schema_decl.dataset;
    spec.target = spec.target.or_else(|| d.target.clone());
    spec.id = spec.id.or_else(|| d.id.clone());
    if spec.sensitive.is_empty() {
        spec.sensitive = d.sensitive.clone();
    }
    if spec.features.is_none() && !d.features.is_empty() {
        spec.features = Some(d.features.clone());
    }
    let declared_features: Option<BTreeSet<&str>> = spec
        .features
        .as_ref()
        .map(|f| f.iter().map(String::as_str).collect());

    // 1-2. Integrity and parsing (hashing every byte while parsing). After
    // the first rows, columns that will be dropped (PII not declared, and
    // not named by the schema) stop being kept: they cost no memory.
    let early = |c: &RawColumn| -> bool {
        if schema_decl.columns.contains_key(&c.name) {
            return false;
        }
        let f = detect_raw(c, infer(c));
        decide(&spec, declared_features.as_ref(), &c.name, &f).dropped()
    };
    let mut raw = read_raw_with(input, &spec.csv, Some(&early), Hashing::On)?;
    let source_digest = raw.source_digest()?;
    if let Some(want) = spec.expected_digest
        && want != source_digest
    {
        return Err(DataError::Integrity {
            expected: want,
            actual: source_digest,
        });
    }
    let rows = raw.rows;
    let source_bytes = raw.source_bytes;
    let row_hashes = std::mem::take(&mut raw.row_hashes);
    let mut raw_columns: Vec<Option<RawColumn>> = raw.columns.into_iter().map(Some).collect();
    let names: Vec<String> = raw_columns
        .iter()
        .flatten()
        .map(|c| c.name.clone())
        .collect();
    let present: Vec<&str> = names.iter().map(String::as_str).collect();

    // Per-column work below runs on every core; results keep column order.
    let kept: Vec<&RawColumn> = raw_columns.iter().flatten().collect();
    let types: Vec<ColumnType> = crate::pool::try_map(kept.clone(), crate::pool::workers(), |c| {
        Ok::<_, DataError>(
            schema_decl
                .columns
                .get(&c.name)
                .and_then(|e| e.column_type)
                .unwrap_or_else(|| infer(c)),
        )
    })?;
    let source_columns: Vec<ColumnSchema> = names
        .iter()
        .zip(&types)
        .map(|(n, t)| ColumnSchema {
            name: n.clone(),
            column_type: *t,
        })
        .collect();

    check_declared(&present, &spec)?;

    // 3. Validation: declared types, the schema's expectations, duplicates.
    let mut expectations = Vec::new();
    let mut checked = Table {
        rows,
        columns: Vec::new(),
    };
    for (col, ty) in raw_columns.iter().flatten().zip(&types) {
        let Some(declared) = schema_decl.columns.get(&col.name) else {
            continue;
        };
        match convert(col, *ty, crate::schema::FIRST_ROWS) {
            Ok(data) => checked.columns.push(Column {
                name: col.name.clone(),
                data,
            }),
            Err((bad, count)) => {
                if declared.column_type.is_some() {
                    expectations.push(type_failure(&col.name, *ty, bad, count));
                }
            }
        }
    }
    let dups = {
        let mut seen: rustc_hash::FxHashSet<u64> = rustc_hash::FxHashSet::default();
        seen.reserve(rows);
        let n = row_hashes.iter().filter(|h| !seen.insert(**h)).count();
        drop(row_hashes);
        n
    };
    expectations.extend(validate(&checked, &present, &schema_decl, dups));
    drop(checked);
    if expectations.iter().any(|e| !e.passed) {
        return Err(DataError::Validation(expectations));
    }

    // 4. PII detection on the raw text.
    let mut findings: Vec<PiiFinding> = crate::pool::try_map(
        kept.iter().zip(&types).collect(),
        crate::pool::workers(),
        |(c, ty)| Ok::<_, DataError>(detect_raw(c, *ty)),
    )?;
    // A kept string column is scanned in full for embedded PII, so a rare
    // SSN in a comment field is not missed by the sample. Values that are
    // replaced whole (the id, unless the policy says otherwise; any column
    // action other than keep) need no scan.
    let scans: Vec<usize> = (0..kept.len())
        .filter(|&idx| {
            let name = &kept[idx].name;
            let first = decide(&spec, declared_features.as_ref(), name, &findings[idx]);
            let replaced = match spec.pii_policy.columns.get(name) {
                Some(a) => *a != Action::Keep,
                None => first.role == "id",
            };
            !first.dropped()
                && findings[idx].entity.is_none()
                && !replaced
                && matches!(types[idx], ColumnType::Text | ColumnType::Categorical)
        })
        .collect();
    let embedded = crate::pool::try_map_heaviest_first(
        scans.clone(),
        crate::pool::workers(),
        |&idx| kept[idx].plain_bytes() + kept[idx].len(),
        |idx| Ok::<_, DataError>(embedded_everywhere(kept[idx], types[idx])),
    )?;
    for (idx, e) in scans.into_iter().zip(embedded) {
        findings[idx].embedded = e;
    }
    drop(kept);

    // 5-6. PII actions and minimisation.
    let mut jobs = Vec::new();
    let mut actions = Vec::new();
    let mut dropped = Vec::new();
    let mut unmasked = Vec::new();
    let mut detected = BTreeSet::new();
    let mut features = Vec::new();
    for (idx, ty) in types.iter().enumerate() {
        let Some(col) = raw_columns[idx].take() else {
            continue;
        };
        let name = col.name.clone();
        let f = &findings[idx];
        let Decision {
            keep_role,
            action,
            by,
            ..
        } = decide(&spec, declared_features.as_ref(), &name, f);
        if col.is_frozen() && !(keep_role == "undeclared" || action == Some(Action::Drop)) {
            return Err(DataError::Internal(format!(
                "column {name} was set aside early but is kept"
            )));
        }
        detected.extend(f.entity);
        detected.extend(f.embedded.keys().copied());
        let embedded: Vec<Entity> = f.embedded.keys().copied().collect();
        if keep_role == "undeclared" && action.is_none_or(|a| a != Action::Drop) {
            dropped.push(DroppedColumn {
                column: name.clone(),
                reason: "not a declared feature, target, sensitive attribute or id".into(),
            });
            if let Some(a) = action {
                actions.push(ActionTaken {
                    column: name,
                    entity: f.entity,
                    embedded,
                    action: a,
                    by: by.into(),
                });
            }
            continue;
        }
        if action == Some(Action::Drop) {
            actions.push(ActionTaken {
                column: name.clone(),
                entity: f.entity,
                embedded,
                action: Action::Drop,
                by: by.into(),
            });
            dropped.push(DroppedColumn {
                column: name,
                reason: format!(
                    "PII ({}): dropped by {}",
                    f.entity.map(Entity::as_str).unwrap_or("embedded"),
                    if by == "policy" {
                        "the PII policy"
                    } else {
                        "default"
                    }
                ),
            });
            continue;
        }
        if let Some(a) = action {
            actions.push(ActionTaken {
                column: name.clone(),
                entity: f.entity,
                embedded: embedded.clone(),
                action: a,
                by: by.into(),
            });
        }
        if action.is_none_or(|a| a == Action::Keep) {
            if let Some(e) = f.entity {
                unmasked.push(format!("{name}:{}", e.as_str()));
            }
            for e in &embedded {
                unmasked.push(format!("{name}:{}", e.as_str()));
            }
        }
        if keep_role == "feature" {
            features.push(name.clone());
        }
        jobs.push(Job {
            name,
            raw: col,
            ty: *ty,
            action,
            entity: f.entity,
        });
    }
    let out_columns = convert_all(jobs, &spec.pseudonym_key.0)?;
    let mut clean = Table {
        rows,
        columns: out_columns,
    };

    // 7. Poisoning and integrity screen.
    let screen_report = match (&spec.screen, &spec.target) {
        (Some(opts), Some(target)) => Some(screen(
            &clean,
            target,
            &features,
            &spec.sensitive,
            spec.previous.as_ref(),
            spec.id.as_deref(),
            opts,
        )?),
        _ => None,
    };
    if spec.drop_suspects && spec.screen.is_none() {
        return Err(DataError::Columns(
            "dropping the suspect rows needs the poisoning screen (a target, and no --no-screen)"
                .into(),
        ));
    }
    let dropped_suspects = match &screen_report {
        Some(s) if spec.drop_suspects => {
            if s.all_suspects.len() == clean.rows {
                return Err(DataError::Columns(format!(
                    "the screen suspects every one of the {} rows; nothing would be left to store",
                    clean.rows
                )));
            }
            clean = clean.without_rows(&s.all_suspects);
            let max = spec.screen.as_ref().map_or(100, |o| o.max_listed);
            Some(crate::screen::RowList::from(s.all_suspects.clone(), max))
        }
        _ => None,
    };
    let output_columns = schema(&clean);
    let kept = clean.names().iter().map(|s| s.to_string()).collect();
    clean.rows = clean.columns.first().map_or(clean.rows, |c| c.data.len());
    let report = DataReport {
        source_digest,
        source_bytes,
        source_rows: rows,
        source_columns,
        expectations,
        duplicate_rows: dups,
        pii: PiiReport {
            findings: findings.into_iter().filter(|f| !f.is_empty()).collect(),
            actions,
            detected: detected.into_iter().collect(),
            unmasked,
        },
        kept,
        dropped,
        target: spec.target.clone(),
        id: spec.id.clone(),
        sensitive: spec.sensitive.clone(),
        features,
        screen: screen_report,
        dropped_suspects,
        output_rows: clean.rows,
        output_columns,
    };
    Ok(Ingested {
        table: clean,
        report,
    })
}
