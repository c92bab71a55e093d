//! The ingest pipeline: raw bytes to a clean, minimised table and a report.
//!
//! Order (stopping at the first failing stage): integrity, parsing and
//! typing, validation, PII detection, PII actions, minimisation, poisoning
//! screen. Nothing here writes anywhere; the engine stores the result.

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher as _};
use std::io::Read;

use serde::Serialize;
use warden_core::Digest;

use crate::DataError;
use crate::detect::{PiiFinding, detect_column};
use crate::pii::Entity;
use crate::policy::{Action, PiiPolicy, apply};
use crate::read::{CsvOptions, convert, infer, read_raw};
use crate::schema::{ExpectationResult, Schema, type_failure, validate};
use crate::screen::{ScreenOptions, ScreenReport, screen};
use crate::table::{Column, ColumnType, Table};
use crate::write::{ColumnSchema, schema};

/// What to ingest and how.
#[derive(Clone, Debug, Default)]
pub struct IngestSpec {
    pub csv: CsvOptions,
    /// Abort unless the source bytes hash to this.
    pub expected_digest: Option<Digest>,
    pub schema: Option<Schema>,
    pub target: Option<String>,
    /// Declared features; `None` means every column that is not the
    /// target, id, a sensitive attribute or PII.
    pub features: Option<Vec<String>>,
    pub sensitive: Vec<String>,
    pub id: Option<String>,
    pub pii_policy: PiiPolicy,
    /// Key for pseudonyms (the workspace's secret).
    pub pseudonym_key: PseudonymKey,
    /// Run the poisoning screen (needs a target).
    pub screen: Option<ScreenOptions>,
    /// The previous version of this dataset, for shift checks.
    pub previous: Option<Table>,
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
    pub column: String,
    pub entity: Option<Entity>,
    pub embedded: Vec<Entity>,
    pub action: Action,
    /// `policy` when the policy file chose it, else `default`.
    pub by: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct DroppedColumn {
    pub column: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PiiReport {
    pub findings: Vec<PiiFinding>,
    pub actions: Vec<ActionTaken>,
    /// Every entity detected anywhere in the source.
    pub detected: Vec<Entity>,
    /// `column:entity` pairs whose raw values remain in the output.
    pub unmasked: Vec<String>,
}

/// Everything ingest found and did.
#[derive(Clone, Debug, Serialize)]
pub struct DataReport {
    pub source_digest: Digest,
    pub source_bytes: u64,
    pub source_rows: usize,
    pub source_columns: Vec<ColumnSchema>,
    pub expectations: Vec<ExpectationResult>,
    pub duplicate_rows: usize,
    pub pii: PiiReport,
    pub kept: Vec<String>,
    pub dropped: Vec<DroppedColumn>,
    pub target: Option<String>,
    pub id: Option<String>,
    pub sensitive: Vec<String>,
    pub features: Vec<String>,
    pub screen: Option<ScreenReport>,
    pub output_rows: usize,
    pub output_columns: Vec<ColumnSchema>,
}

/// The clean table and the report.
#[derive(Debug)]
pub struct Ingested {
    pub table: Table,
    pub report: DataReport,
}

/// Counts rows identical to an earlier row in every column.
pub fn duplicate_rows(table: &Table) -> usize {
    let mut seen: HashMap<u64, usize> = HashMap::with_capacity(table.rows);
    let mut dups = 0;
    for r in 0..table.rows {
        let mut h = std::hash::DefaultHasher::new();
        for c in &table.columns {
            c.data.text(r).hash(&mut h);
        }
        if seen.insert(h.finish(), r).is_some() {
            dups += 1;
        }
    }
    dups
}

fn check_declared(table: &Table, spec: &IngestSpec) -> Result<(), DataError> {
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
        if table.column(n).is_none() && !missing.contains(&n.as_str()) {
            missing.push(n.as_str());
        }
    }
    if !missing.is_empty() {
        return Err(DataError::Columns(format!(
            "declared column(s) {} not in the file; it has: {}",
            missing.join(", "),
            table.names().join(", ")
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

/// Runs the whole pipeline over CSV bytes from `input`.
pub fn ingest(input: &mut dyn Read, spec: &IngestSpec) -> Result<Ingested, DataError> {
    // 1-2. Integrity and parsing (hashing every byte while parsing).
    let raw = read_raw(input, &spec.csv)?;
    if let Some(want) = spec.expected_digest
        && want != raw.source_digest
    {
        return Err(DataError::Integrity {
            expected: want,
            actual: raw.source_digest,
        });
    }
    let schema_decl = spec.schema.clone().unwrap_or_default();
    let mut columns = Vec::with_capacity(raw.columns.len());
    let mut type_results = Vec::new();
    for col in &raw.columns {
        let declared = schema_decl
            .columns
            .get(&col.name)
            .and_then(|c| c.column_type);
        let ty = declared.unwrap_or_else(|| infer(col));
        let data = match convert(col, ty, crate::schema::FIRST_ROWS) {
            Ok(d) => d,
            Err((bad, count)) => {
                type_results.push(type_failure(&col.name, ty, bad, count));
                // Keep going to report every failure; the column is typed as text.
                convert(col, ColumnType::Text, 0)
                    .map_err(|_| DataError::Internal("text conversion".into()))?
            }
        };
        columns.push(Column {
            name: col.name.clone(),
            data,
        });
    }
    let source_bytes = raw.source_bytes;
    let source_digest = raw.source_digest;
    drop(raw);
    let table = Table {
        rows: columns.first().map_or(0, |c| c.data.len()),
        columns,
    };
    let source_columns = schema(&table);

    // Roles: flags win over the schema's [dataset] section.
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
    check_declared(&table, &spec)?;

    // 3. Validation.
    let dups = duplicate_rows(&table);
    let mut expectations = type_results;
    expectations.extend(validate(&table, &schema_decl, dups));
    if expectations.iter().any(|e| !e.passed) {
        return Err(DataError::Validation(expectations));
    }

    // 4. PII detection.
    let findings: Vec<PiiFinding> = table.columns.iter().map(detect_column).collect();

    // 5-6. PII actions and minimisation.
    let declared_features: Option<BTreeSet<&str>> = spec
        .features
        .as_ref()
        .map(|f| f.iter().map(String::as_str).collect());
    let role = |name: &str| -> &'static str {
        if spec.target.as_deref() == Some(name) {
            "target"
        } else if spec.id.as_deref() == Some(name) {
            "id"
        } else if spec.sensitive.iter().any(|s| s == name) {
            "sensitive"
        } else if declared_features.as_ref().is_some_and(|f| f.contains(name)) {
            "feature"
        } else {
            "undeclared"
        }
    };
    let mut out_columns = Vec::new();
    let mut actions = Vec::new();
    let mut dropped = Vec::new();
    let mut unmasked = Vec::new();
    let mut detected = BTreeSet::new();
    let mut features = Vec::new();
    for (col, f) in table.columns.iter().zip(&findings) {
        detected.extend(f.entity);
        detected.extend(f.embedded.keys().copied());
        let r = role(&col.name);
        let embedded: Vec<Entity> = f.embedded.keys().copied().collect();
        let is_pii = f.entity.is_some();
        // Undeclared columns without PII: features by default, unless
        // features were declared.
        let keep_role = match r {
            "undeclared" if declared_features.is_none() && !is_pii => "feature",
            other => other,
        };
        let (action, by) = if let Some(a) = spec.pii_policy.columns.get(&col.name) {
            (Some(*a), "policy")
        } else if r == "id" {
            (Some(Action::Pseudonymise), "default")
        } else if let Some(e) = f.entity {
            match spec.pii_policy.entities.get(&e) {
                Some(a) => (Some(*a), "policy"),
                None if keep_role == "undeclared" => (Some(Action::Drop), "default"),
                None if !e.is_direct_identifier() => (Some(Action::Generalise), "default"),
                None => (Some(Action::Keep), "default"),
            }
        } else if !embedded.is_empty() && keep_role != "undeclared" {
            (Some(Action::Redact), "default")
        } else {
            (None, "")
        };
        if keep_role == "undeclared" && action.is_none_or(|a| a != Action::Drop) {
            dropped.push(DroppedColumn {
                column: col.name.clone(),
                reason: "not a declared feature, target, sensitive attribute or id".into(),
            });
            if let Some(a) = action {
                actions.push(ActionTaken {
                    column: col.name.clone(),
                    entity: f.entity,
                    embedded,
                    action: a,
                    by: by.into(),
                });
            }
            continue;
        }
        let data = match action {
            None => Some(col.data.clone()),
            Some(a) => {
                actions.push(ActionTaken {
                    column: col.name.clone(),
                    entity: f.entity,
                    embedded: embedded.clone(),
                    action: a,
                    by: by.into(),
                });
                apply(a, &col.data, f.entity, &spec.pseudonym_key.0, &col.name)?
            }
        };
        let Some(data) = data else {
            dropped.push(DroppedColumn {
                column: col.name.clone(),
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
        };
        if action.is_none_or(|a| a == Action::Keep) {
            if let Some(e) = f.entity {
                unmasked.push(format!("{}:{}", col.name, e.as_str()));
            }
            for e in &embedded {
                unmasked.push(format!("{}:{}", col.name, e.as_str()));
            }
        }
        if keep_role == "feature" {
            features.push(col.name.clone());
        }
        out_columns.push(Column {
            name: col.name.clone(),
            data,
        });
    }
    let mut clean = Table {
        rows: table.rows,
        columns: out_columns,
    };
    drop(table);

    // 7. Poisoning and integrity screen.
    let screen_report = match (&spec.screen, &spec.target) {
        (Some(opts), Some(target)) => {
            // The screen's model uses every attribute it may, sensitive ones
            // included: label noise is judged on all the evidence.
            let mut screen_features = features.clone();
            screen_features.extend(spec.sensitive.iter().cloned());
            Some(screen(
                &clean,
                target,
                &screen_features,
                spec.previous.as_ref(),
                opts,
            )?)
        }
        _ => None,
    };
    let output_columns = schema(&clean);
    let kept = clean.names().iter().map(|s| s.to_string()).collect();
    clean.rows = clean.columns.first().map_or(clean.rows, |c| c.data.len());
    let report = DataReport {
        source_digest,
        source_bytes,
        source_rows: clean.rows,
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
        output_rows: clean.rows,
        output_columns,
    };
    Ok(Ingested {
        table: clean,
        report,
    })
}
