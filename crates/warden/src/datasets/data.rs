//! `data ingest | list | show | lineage`.

use crate::documents::{
    DatasetChecks, DatasetLineage, DatasetManifest, DatasetOutput, DatasetRoles, DatasetSource,
    DatasetTransform, LabelNoiseCheck, LineageParent, PiiCheck, ReportDigests, SCHEMA_VERSION,
    TransformSpec,
};
use crate::events;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use warden_core::{Action, Digest, ObjectName, Timestamp, VersionRef, actions, canonical_json};
use warden_data::policy::PiiPolicy;
use warden_data::read::{CsvOptions, read_csv};
use warden_data::schema::Schema;
use warden_data::screen::ScreenOptions;
use warden_data::{DataError, DataReport, IngestSpec, PseudonymKey};
use warden_store::DatasetRecord;

use crate::{Error, Workspace};

/// Largest schema or policy file read.
const MAX_SPEC_FILE: u64 = 1 << 20;
/// The manifest format of a dataset version.
pub const DATASET_FORMAT: &str = "warden.dataset/v1";
/// The stored table's format (see `warden_data::write`).
pub const TABLE_FORMAT: &str = "warden-canonical-csv/v1";

/// What to ingest.
pub struct IngestRequest<'a> {
    /// The dataset's name; the new version is `NAME@V`, one after the latest.
    pub name: ObjectName,
    /// The CSV bytes (see [`open_csv`]).
    pub input: &'a mut (dyn Read + Send),
    /// Where the bytes came from (a path or `-`), for the record.
    pub source: String,
    /// Refuse the input unless its bytes hash to this (`--sha256`, or a
    /// pipeline file's `sha256`): a pin, recorded as `pinned`. A pin in
    /// `warden.toml`'s `[data.pins]` for the dataset holds as well: when
    /// both are given they must agree.
    pub expected_sha256: Option<Digest>,
    /// Refuse the input unless its bytes hash to this, without calling it
    /// a pin: a caller's own check that the bytes it read before are the
    /// bytes ingested (a pipeline hashes its file to decide reuse).
    pub source_check: Option<Digest>,
    /// A TOML file of column types, expectations and roles to validate against.
    pub schema_file: Option<PathBuf>,
    /// A TOML file of PII actions by entity and by column, overriding the
    /// defaults.
    pub pii_policy_file: Option<PathBuf>,
    /// The label column; `None` takes the schema file's, if any.
    pub target: Option<String>,
    /// The feature columns; `None` means every column that is not the target,
    /// the id, sensitive or PII.
    pub features: Option<Vec<String>>,
    /// Sensitive attributes: kept for fairness checks, never features. Empty
    /// takes the schema file's.
    pub sensitive: Vec<String>,
    /// The row id column (pseudonymised unless the PII policy says otherwise);
    /// `None` takes the schema file's, if any.
    pub id: Option<String>,
    /// How to read the CSV: delimiter, trimming, missing-value markers, field
    /// size limit.
    pub csv: CsvOptions,
    /// Run the poisoning screen (`false` with `--no-screen`).
    pub screen: bool,
    /// The largest share of wrong labels the dataset's owner accepts for
    /// it (the gate's `max_label_noise` when `None`); 0 to 1.
    pub max_label_noise: Option<f64>,
    /// Leave the screen's suspect rows out of the stored table (they stay
    /// listed in the report, with the count in the manifest).
    pub drop_suspects: bool,
}

impl<'a> IngestRequest<'a> {
    /// A request with the defaults of `warden data ingest`: no schema, PII
    /// policy, target or declared columns; default CSV options; screened;
    /// the gate's label-noise limit; suspects kept. Set what differs with
    /// struct update syntax.
    pub fn new(name: ObjectName, input: &'a mut (dyn Read + Send), source: String) -> Self {
        IngestRequest {
            name,
            input,
            source,
            expected_sha256: None,
            source_check: None,
            schema_file: None,
            pii_policy_file: None,
            target: None,
            features: None,
            sensitive: Vec::new(),
            id: None,
            csv: CsvOptions::default(),
            screen: true,
            max_label_noise: None,
            drop_suspects: false,
        }
    }
}

/// A recorded dataset version, with its manifest parsed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DatasetInfo {
    /// The registry row (flattened into the JSON).
    #[serde(flatten)]
    pub record: DatasetRecord,
    /// The version's manifest, parsed from the row.
    pub manifest: DatasetManifest,
}

impl DatasetInfo {
    fn from_record(d: &DatasetRecord) -> Result<Self, Error> {
        Ok(DatasetInfo {
            record: d.clone(),
            manifest: crate::stored::dataset_manifest(d)?,
        })
    }
}

/// The result of an ingest.
#[derive(Debug, Serialize)]
pub struct IngestOutcome {
    /// The version recorded.
    pub dataset: DatasetInfo,
    /// The ingest report: columns, expectations, PII, dropped columns, screen.
    pub report: DataReport,
    /// What the data engineer should look at before training on it (a
    /// protected attribute used as a feature, a redacted text column kept
    /// as one); nothing here stops the ingest.
    pub warnings: Vec<String>,
    /// The report as Markdown (stored as a blob; not serialised).
    #[serde(skip)]
    pub markdown: String,
}

/// One node of a lineage graph.
#[derive(Debug, Serialize)]
pub struct LineageNode {
    /// `source`, `schema`, `pii-policy`, `transform`, `output` or
    /// `dataset-version`.
    pub kind: String,
    /// What to show: the source file's name, the kind again (`schema`,
    /// `pii-policy`), `ingest`, or `NAME@V`.
    pub label: String,
    /// The node's `sha256:` digest.
    pub digest: String,
}

/// `NAME@V`'s lineage: source → transforms → output, and its predecessor.
#[derive(Debug, Serialize)]
pub struct Lineage {
    /// `NAME@V`.
    pub dataset: String,
    /// The nodes in order: source, schema and PII policy when given, the
    /// ingest transform, the stored table, the manifest.
    pub nodes: Vec<LineageNode>,
    /// `NAME@V` of the version before (`None`: this is the first).
    pub previous_version: Option<String>,
}

/// Opens a CSV input for reading: `-` is standard input; a directory is
/// refused by name here (it opens like a file on Unix and would fail only
/// when read, with an error that names no path).
pub fn open_csv(path: &Path) -> Result<Box<dyn Read + Send>, Error> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::stdin()));
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Error::Usage(format!(
            "{}: is a directory; give a CSV file (or - for standard input)",
            path.display()
        )));
    }
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
}

pub(crate) fn read_small(path: &Path) -> Result<String, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > MAX_SPEC_FILE {
        return Err(Error::Invalid(format!(
            "{}: larger than {MAX_SPEC_FILE} bytes",
            path.display()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

impl From<DataError> for Error {
    fn from(e: DataError) -> Self {
        match e {
            DataError::Validation(results) => Error::Validation(results),
            DataError::Integrity { .. } => Error::Verification(e.to_string()),
            other => Error::Data(other.to_string()),
        }
    }
}

impl Workspace {
    /// The workspace's pseudonymisation secret, created on first use.
    fn pseudonym_key(&self) -> Result<(Vec<u8>, bool), Error> {
        let path = self
            .state_dir()
            .join("keys")
            .join(crate::workspace::PSEUDONYM_SECRET);
        read_or_create_secret(&path)
    }
}

/// A 32-byte hex secret in a 0600 file, created on first use; refused when
/// other users can read it. Returns the secret and whether it was created.
pub(crate) fn read_or_create_secret(path: &std::path::Path) -> Result<(Vec<u8>, bool), Error> {
    {
        let path = path.to_path_buf();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(&path)
                        .map_err(|e| Error::io(&path, e))?
                        .permissions()
                        .mode()
                        & 0o777;
                    if mode & 0o077 != 0 {
                        return Err(Error::Invalid(format!(
                            "{}: secret is accessible to other users (mode {mode:o}); run `chmod 600 {}`",
                            path.display(),
                            path.display()
                        )));
                    }
                }
                let key = hex::decode(text.trim())
                    .ok()
                    .filter(|k| k.len() == 32)
                    .ok_or_else(|| {
                        Error::Invalid(format!("{}: not a 32-byte hex secret", path.display()))
                    })?;
                Ok((key, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Workspaces created before the secret was made at init.
                let mut key = vec![0u8; 32];
                getrandom::fill(&mut key)
                    .map_err(|e| Error::Invalid(format!("no randomness: {e}")))?;
                crate::workspace::write_new_secret(&path, hex::encode(&key).as_bytes())?;
                Ok((key, true))
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }
}

impl Workspace {
    /// Reads a stored table back (digest-checked).
    pub fn dataset_table(&self, d: &DatasetRecord) -> Result<warden_data::Table, Error> {
        let digest: Digest = d
            .output_digest
            .parse()
            .map_err(|e| Error::Verification(format!("{e}")))?;
        let bytes = self.blobs().get(&digest)?;
        let (table, _) = read_csv(
            &mut bytes.as_slice(),
            &CsvOptions {
                missing: vec![String::new()],
                ..Default::default()
            },
        )?;
        Ok(table)
    }

    /// Ingests a dataset: integrity, parsing, validation, PII detection and
    /// actions, minimisation, poisoning screen; then records `NAME@V` with
    /// its lineage and report, and an audit event, in one transaction.
    pub fn data_ingest(&self, req: IngestRequest<'_>) -> Result<IngestOutcome, Error> {
        self.authorize(Action::DataIngest, &format!("dataset:{}", req.name))?;
        if req.drop_suspects && !req.screen {
            return Err(Error::Usage(
                "--drop-suspects needs the poisoning screen; drop --no-screen".into(),
            ));
        }
        if req.drop_suspects && req.target.is_none() {
            return Err(Error::Usage(
                "--drop-suspects needs --target: the screen judges labels".into(),
            ));
        }
        if let Some(m) = req.max_label_noise {
            if !(0.0..=1.0).contains(&m) {
                return Err(Error::Usage(format!(
                    "--max-label-noise {m}: a share of rows between 0 and 1"
                )));
            }
            if !req.screen {
                return Err(Error::Usage(
                    "--max-label-noise needs the poisoning screen; drop --no-screen".into(),
                ));
            }
        }
        // Every digest the bytes must have: the caller's pin, the
        // workspace's pin (which a caller's own digest cannot override),
        // the caller's consistency check. Being digests of the same bytes,
        // any two must agree before anything is read.
        let configured = match self.config().data.pins.get(req.name.as_str()) {
            Some(hex) => Some(Digest::from_hex(hex).map_err(|_| Error::Config {
                path: self.root().join(crate::CONFIG_FILE),
                message: format!("data.pins.{}: not a 64-character hex SHA-256", req.name),
            })?),
            None => None,
        };
        let wanted: Vec<(String, Digest)> = [
            ("the given SHA-256".to_string(), req.expected_sha256),
            (
                format!("the pin data.pins.{} in warden.toml", req.name),
                configured,
            ),
            ("the file as first read".to_string(), req.source_check),
        ]
        .into_iter()
        .filter_map(|(what, d)| d.map(|d| (what, d)))
        .collect();
        if let Some(((a, da), (b, db))) = wanted
            .iter()
            .flat_map(|x| wanted.iter().map(move |y| (x, y)))
            .find(|((_, da), (_, db))| da != db)
        {
            return Err(Error::Verification(format!(
                "{}: {a} is {da} but {b} is {db}; nothing was recorded",
                req.source
            )));
        }
        let is_pinned = req.expected_sha256.is_some() || configured.is_some();
        let pinned = wanted.first().map(|(_, d)| *d);
        let (schema, schema_digest) = match &req.schema_file {
            Some(p) => {
                let text = read_small(p)?;
                (
                    Some(Schema::parse(&text, &p.display().to_string())?),
                    Some(Digest::of(text.as_bytes())),
                )
            }
            None => (None, None),
        };
        let (policy, policy_digest) = match &req.pii_policy_file {
            Some(p) => {
                let text = read_small(p)?;
                (
                    PiiPolicy::parse(&text, &p.display().to_string())?,
                    Some(Digest::of(text.as_bytes())),
                )
            }
            None => (PiiPolicy::default(), None),
        };
        let previous = self.store().read()?.dataset(&req.name, None)?;
        let previous_table = match &previous {
            Some(p) if req.screen => Some(self.dataset_table(p)?),
            _ => None,
        };
        let compared_with_previous = previous_table.is_some();
        let (key, key_created) = self.pseudonym_key()?;
        let spec = IngestSpec {
            csv: req.csv.clone(),
            expected_digest: pinned,
            schema,
            target: req.target.clone(),
            features: req.features.clone(),
            sensitive: req.sensitive.clone(),
            id: req.id.clone(),
            pii_policy: policy,
            pseudonym_key: PseudonymKey(key),
            screen: req.screen.then(ScreenOptions::default),
            previous: previous_table,
            drop_suspects: req.drop_suspects,
        };
        let out = warden_data::ingest(req.input, &spec)?;
        let (output_digest, _) = self
            .blobs()
            .put_with(&mut |w| warden_data::write::write_canonical(&out.table, w))?;
        // The version is taken inside the write transaction: another
        // ingest of the same name (another process, another replica) may
        // have recorded one since `previous` was read. Then the manifest is
        // made again for the next free version, unless the screen compared
        // this table with the version it believed latest: that comparison
        // is stale, and the ingest must run again.
        let mut previous = previous;
        loop {
            let version = previous.as_ref().map_or(1, |p| p.version + 1);
            let title = format!("{}@{version}", req.name);
            let report_json = canonical_json(&out.report)?;
            let (report_digest, _) = self.blobs().put(&mut report_json.as_slice())?;
            let markdown = warden_data::report::to_markdown(&out.report, &title);
            let (report_md_digest, _) = self.blobs().put(&mut markdown.as_bytes())?;
            let transform = TransformSpec {
                csv: crate::documents::CsvOptions {
                    delimiter: char::from(req.csv.delimiter).to_string(),
                    trim: req.csv.trim,
                    missing: req.csv.missing.clone(),
                    max_field_bytes: req.csv.max_field_bytes as u64,
                },
                schema_digest: schema_digest.map(|d| d.to_string()),
                pii_policy_digest: policy_digest.map(|d| d.to_string()),
                pii_actions: out
                    .report
                    .pii
                    .actions
                    .iter()
                    .map(|a| crate::documents::PiiAction {
                        column: a.column.clone(),
                        entity: a.entity.map(|e| e.as_str().to_string()),
                        embedded: a.embedded.iter().map(|e| e.as_str().to_string()).collect(),
                        action: a.action.as_str().to_string(),
                        by: a.by.clone(),
                    })
                    .collect(),
                dropped: out
                    .report
                    .dropped
                    .iter()
                    .map(|d| crate::documents::DroppedColumn {
                        column: d.column.clone(),
                        reason: d.reason.clone(),
                    })
                    .collect(),
                screen: req.screen,
                warden_version: env!("CARGO_PKG_VERSION").to_string(),
            };
            let transform_digest = Digest::of(&canonical_json(&transform)?);
            let now = Timestamp::now();
            let screen = out.report.screen.as_ref();
            let manifest = DatasetManifest {
                schema_version: SCHEMA_VERSION,
                format: DATASET_FORMAT.to_string(),
                name: req.name.to_string(),
                version,
                source: DatasetSource {
                    digest: out.report.source_digest.to_string(),
                    bytes: out.report.source_bytes,
                    rows: out.report.source_rows as u64,
                    name: req.source.to_string(),
                    pinned: is_pinned,
                },
                transform: DatasetTransform {
                    digest: transform_digest.to_string(),
                    spec: transform,
                },
                output: DatasetOutput {
                    digest: output_digest.to_string(),
                    format: TABLE_FORMAT.to_string(),
                    rows: out.table.rows as u64,
                    schema: out
                        .report
                        .output_columns
                        .iter()
                        .map(|c| crate::documents::ColumnDecl {
                            name: c.name.clone(),
                            column_type: c.column_type.as_str().to_string(),
                        })
                        .collect(),
                },
                roles: DatasetRoles {
                    target: out.report.target.clone(),
                    id: out.report.id.clone(),
                    sensitive: out.report.sensitive.clone(),
                    features: out.report.features.clone(),
                },
                checks: DatasetChecks {
                    schema_valid: true,
                    pii: PiiCheck {
                        detected: out
                            .report
                            .pii
                            .detected
                            .iter()
                            .map(|e| e.as_str().to_string())
                            .collect(),
                        unmasked: out.report.pii.unmasked.clone(),
                    },
                    // Dropped suspects are not in the stored table.
                    suspect_fraction: screen.map(|s| {
                        if out.report.dropped_suspects.is_some() {
                            0.0
                        } else {
                            s.suspect_fraction
                        }
                    }),
                    dropped_suspects: out.report.dropped_suspects.as_ref().map(|d| d.count as u64),
                    low_separability: screen
                        .and_then(|s| s.label_noise.as_ref())
                        .map(|l| l.low_separability),
                    label_noise: screen.and_then(|s| s.label_noise.as_ref()).map(|l| {
                        LabelNoiseCheck {
                            estimate: l.estimated_noise_rate,
                            interval: l.noise_interval,
                            out_of_fold_auc: l.out_of_fold_auc,
                            limit: req.max_label_noise,
                        }
                    }),
                    relabelled: screen.map(|s| s.relabelled.count as u64),
                },
                report: ReportDigests {
                    json: report_digest.to_string(),
                    markdown: report_md_digest.to_string(),
                },
                lineage: DatasetLineage {
                    parents: vec![LineageParent {
                        kind: "source".into(),
                        digest: out.report.source_digest.to_string(),
                    }],
                    previous_version: previous
                        .as_ref()
                        .map(|p| format!("{}@{}", p.name, p.version)),
                },
                created_by: self.actor().to_string(),
                created_at: now.as_str().to_string(),
            };
            let manifest_bytes = canonical_json(&manifest)?;
            let (digest, _) = self.blobs().put(&mut manifest_bytes.as_slice())?;
            let record = DatasetRecord {
                name: req.name.clone(),
                version,
                digest: digest.to_string(),
                source_digest: out.report.source_digest.to_string(),
                output_digest: output_digest.to_string(),
                rows: out.table.rows as u64,
                report_digest: report_digest.to_string(),
                report_md_digest: report_md_digest.to_string(),
                manifest: String::from_utf8_lossy(&manifest_bytes).into_owned(),
                created_by: self.actor().clone(),
                created_at: now,
            };
            let mut tx = self.store().write()?;
            let latest = tx.dataset(&req.name, None)?;
            if latest.as_ref().map(|d| d.version) != previous.as_ref().map(|p| p.version) {
                if compared_with_previous {
                    return Err(Error::Conflict(format!(
                        "{title} was recorded concurrently, after this ingest screened against {}; run the ingest again",
                        previous.as_ref().map_or_else(
                            || "no earlier version".to_string(),
                            |p| format!("{}@{}", p.name, p.version)
                        )
                    )));
                }
                drop(tx);
                previous = latest;
                continue;
            }
            tx.insert_dataset(&record)?;
            events::append(
                &mut *tx,
                self.actor(),
                actions::DATA_INGEST,
                &format!("dataset:{title}"),
                &events::DatasetIngested {
                    dataset: title.clone(),
                    digest: record.digest.clone(),
                    source_digest: record.source_digest.clone(),
                    output_digest: record.output_digest.clone(),
                    rows: record.rows,
                    pii_detected: manifest.checks.pii.detected.clone(),
                    pii_unmasked: manifest.checks.pii.unmasked.clone(),
                    dropped: out
                        .report
                        .dropped
                        .iter()
                        .map(|d| d.column.clone())
                        .collect(),
                    suspect_fraction: screen.map(|s| s.suspect_fraction),
                    dropped_suspects: out.report.dropped_suspects.as_ref().map(|d| d.count as u64),
                    pseudonym_secret_created: key_created,
                },
            )?;
            self.commit(tx)?;
            let warnings = feature_warnings(&out.report);
            return Ok(IngestOutcome {
                dataset: DatasetInfo::from_record(&record)?,
                report: out.report,
                warnings,
                markdown,
            });
        }
    }

    pub(crate) fn find_dataset(&self, r: &VersionRef) -> Result<DatasetRecord, Error> {
        self.store()
            .read()?
            .dataset(&r.name, r.version)?
            .ok_or_else(|| Error::NotFound(format!("dataset {r}")))
    }

    /// Every dataset version.
    pub fn data_list(&self) -> Result<Vec<DatasetInfo>, Error> {
        self.authorize(Action::DataRead, "datasets")?;
        self.store()
            .read()?
            .datasets()?
            .iter()
            .map(DatasetInfo::from_record)
            .collect()
    }

    /// One dataset version, with its report (JSON) and Markdown report.
    pub fn data_show(
        &self,
        r: &VersionRef,
    ) -> Result<(DatasetInfo, serde_json::Value, String), Error> {
        self.authorize(Action::DataRead, &format!("dataset:{r}"))?;
        let d = self.find_dataset(r)?;
        let parse = |s: &str| {
            s.parse::<Digest>()
                .map_err(|e| Error::Verification(e.to_string()))
        };
        let report = self.blobs().get(&parse(&d.report_digest)?)?;
        let md = self.blobs().get(&parse(&d.report_md_digest)?)?;
        let manifest_digest = parse(&d.digest)?;
        if Digest::of(d.manifest.as_bytes()) != manifest_digest {
            return Err(Error::Verification(format!(
                "dataset {}@{}: the recorded manifest does not match its digest",
                d.name, d.version
            )));
        }
        Ok((
            DatasetInfo::from_record(&d)?,
            serde_json::from_slice(&report).map_err(|e| Error::Data(e.to_string()))?,
            String::from_utf8_lossy(&md).into_owned(),
        ))
    }

    /// The lineage of one dataset version.
    pub fn data_lineage(&self, r: &VersionRef) -> Result<Lineage, Error> {
        self.authorize(Action::DataRead, &format!("dataset:{r}"))?;
        let d = self.find_dataset(r)?;
        let m = crate::stored::dataset_manifest(&d)?;
        let mut nodes = vec![LineageNode {
            kind: "source".into(),
            label: m.source.name.clone(),
            digest: d.source_digest.clone(),
        }];
        let spec = &m.transform.spec;
        for (kind, digest) in [
            ("schema", &spec.schema_digest),
            ("pii-policy", &spec.pii_policy_digest),
        ] {
            if let Some(dg) = digest {
                nodes.push(LineageNode {
                    kind: kind.into(),
                    label: kind.into(),
                    digest: dg.clone(),
                });
            }
        }
        nodes.push(LineageNode {
            kind: "transform".into(),
            label: "ingest".into(),
            digest: m.transform.digest.clone(),
        });
        nodes.push(LineageNode {
            kind: "output".into(),
            label: format!("{}@{}", d.name, d.version),
            digest: d.output_digest.clone(),
        });
        nodes.push(LineageNode {
            kind: "dataset-version".into(),
            label: format!("{}@{}", d.name, d.version),
            digest: d.digest.clone(),
        });
        Ok(Lineage {
            dataset: format!("{}@{}", d.name, d.version),
            nodes,
            previous_version: m.lineage.previous_version.clone(),
        })
    }
}

/// Column names that usually hold a characteristic protected from
/// discrimination (the US ECOA and Fair Housing Act, the UK Equality Act
/// 2010, the EU Charter art. 21): matched on the whole name or one of its
/// `_`/`-`/space separated words, case-insensitively.
const PROTECTED_NAMES: &[&str] = &[
    "race",
    "ethnicity",
    "ethnic",
    "colour",
    "color",
    "sex",
    "gender",
    "age",
    "religion",
    "religious",
    "nationality",
    "national_origin",
    "native_country",
    "native-country",
    "country_of_birth",
    "marital_status",
    "marital-status",
    "disability",
    "pregnancy",
    "sexual_orientation",
    "orientation",
];

fn protected(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    PROTECTED_NAMES.contains(&lower.as_str())
        || lower
            .split(['_', '-', ' ', '.'])
            .any(|w| PROTECTED_NAMES.contains(&w))
}

/// Warnings for features that fair lending and data minimisation would
/// question: a column named like a protected characteristic that is a
/// feature rather than declared sensitive, and a text column whose PII was
/// redacted kept as a feature (every new text then differs from training).
fn feature_warnings(r: &DataReport) -> Vec<String> {
    let mut out = Vec::new();
    for f in &r.features {
        if protected(f) && !r.sensitive.contains(f) {
            out.push(format!(
                "column {f:?} looks like a protected characteristic and is a model feature: declare it with --sensitive {f} to keep it for fairness checks and out of the features, or list the features with --features"
            ));
        }
    }
    for a in &r.pii.actions {
        let redacted_text =
            a.entity.is_none() && matches!(a.action, warden_data::policy::Action::Redact);
        if redacted_text && r.features.contains(&a.column) {
            out.push(format!(
                "column {:?} is free text with PII redacted and is a model feature: new text will rarely match a training value; leave it out with --features",
                a.column
            ));
        }
    }
    out
}

#[cfg(test)]
mod feature_warning_tests {
    use super::protected;

    #[test]
    fn protected_names_match_whole_words_only() {
        for yes in [
            "race",
            "Sex",
            "age",
            "age_band",
            "native-country",
            "Marital-Status",
            "applicant gender",
        ] {
            assert!(protected(yes), "{yes}");
        }
        for no in [
            "average",
            "stage",
            "usage",
            "sexton",
            "racecar",
            "income",
            "page_views",
        ] {
            assert!(!protected(no), "{no}");
        }
    }
}
