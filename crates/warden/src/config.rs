//! `warden.toml`: the workspace's settings.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Error;

/// The commented defaults `warden init` writes.
pub const DEFAULT_CONFIG: &str = r#"# Warden workspace configuration.
# Every setting is optional; the values shown commented out are the defaults.

[policy]
# Replace the bundled authorisation policy (package warden.authz) with your
# own Rego file. Paths are relative to this file.
# authz = "policies/authz.rego"

[keys]
# The key `warden train` and other pipeline steps sign with.
# pipeline = "pipeline"

[gates]
# The environments a model is promoted through, in order, each gated by
# data.warden.gate.deny (bundled: dev, staging, production).
# environments = ["dev", "staging", "production"]
# Replace the bundled gate policy and/or its thresholds (paths relative to
# this file).
# policy = ["policies/gate.rego"]
# data = "policies/gate-data.json"

[data.pins]
# Pin the SHA-256 of a dataset's source file: `warden data ingest` refuses
# any other bytes under that name.
# credit = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

[store]
# Keep the metadata (registry, approvals, the audit log) in PostgreSQL
# instead of .warden/warden.db, for several replicas sharing one registry.
# No password here: it comes from PGPASSWORD, or set WARDEN_STORE_URL to the
# whole connection string instead. The server's TLS certificate is verified
# against PGSSLROOTCERT (a PEM bundle) or the Mozilla roots.
# url = "postgres://warden@db.internal:5432/warden?sslmode=require"

[blobs]
# Keep datasets, models and reports in S3-compatible object storage instead
# of .warden/blobs/ (`warden migrate --to` moves them there). Credentials
# come from the environment as the AWS tools read them (AWS_ACCESS_KEY_ID
# and AWS_SECRET_ACCESS_KEY, a web identity token, the instance role), never
# from this file. Every read is checked against its digest.
# url = "s3://models-bucket/warden"
# endpoint = "https://s3.internal:9000"   # storage other than AWS
# region = "eu-west-1"
"#;

/// Parsed `warden.toml`. Unknown settings are errors, so a typo never
/// silently falls back to a default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[policy]`: the authorisation policy.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// `[keys]`: which keys the engine signs with.
    #[serde(default)]
    pub keys: KeysConfig,
    /// `[data]`: source pins.
    #[serde(default)]
    pub data: DataConfig,
    /// `[gates]`: environments and their gate policy.
    #[serde(default)]
    pub gates: GatesConfig,
    /// `[store]`: where the metadata lives.
    #[serde(default)]
    pub store: StoreConfig,
    /// `[blobs]`: where datasets, models and reports live.
    #[serde(default)]
    pub blobs: BlobsConfig,
}

/// `[blobs]`: where the blobs live (default: `.warden/blobs/`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobsConfig {
    /// `s3://BUCKET/PREFIX` of S3-compatible object storage.
    pub url: Option<String>,
    /// The server's `https://` endpoint, for storage other than AWS
    /// (plain `http://` only to a server on 127.0.0.1).
    pub endpoint: Option<String>,
    /// The region (default: `AWS_REGION`, else `us-east-1`).
    pub region: Option<String>,
}

impl BlobsConfig {
    /// The S3 location, if the blobs are in S3.
    pub fn s3(&self) -> Result<Option<warden_store::S3Location>, warden_store::StoreError> {
        match &self.url {
            None => Ok(None),
            Some(url) => warden_store::S3Location::parse(
                url,
                self.endpoint.as_deref(),
                self.region.as_deref(),
            )
            .map(Some),
        }
    }
}

/// `[store]`: where the metadata lives (default: `.warden/warden.db`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// A PostgreSQL connection string without a password.
    pub url: Option<String>,
}

/// `[gates]`: environments and their gate policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatesConfig {
    /// The environments a model is promoted through, in order (default `dev`,
    /// `staging`, `production`; never empty).
    #[serde(default = "default_environments")]
    pub environments: Vec<String>,
    /// User gate policy files (default: the bundled gate).
    #[serde(default)]
    pub policy: Vec<PathBuf>,
    /// A user thresholds file (default: the bundled one).
    pub data: Option<PathBuf>,
}

impl Default for GatesConfig {
    fn default() -> Self {
        GatesConfig {
            environments: default_environments(),
            policy: Vec::new(),
            data: None,
        }
    }
}

fn default_environments() -> Vec<String> {
    ["dev", "staging", "production"].map(String::from).to_vec()
}

/// `[data]`: settings for ingest.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Source SHA-256 (hex) pinned per dataset name.
    #[serde(default)]
    pub pins: std::collections::BTreeMap<String, String>,
}

/// `[policy]`: the authorisation policy.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// A user authorisation policy replacing the bundled one.
    pub authz: Option<PathBuf>,
}

/// `[keys]`: which keys the engine signs with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// The key `warden train`, `model import` and other pipeline steps sign
    /// with (default `pipeline`).
    #[serde(default = "default_pipeline_key")]
    pub pipeline: String,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            pipeline: default_pipeline_key(),
        }
    }
}

fn default_pipeline_key() -> String {
    "pipeline".to_string()
}

impl Config {
    /// Reads and parses `path`; relative paths inside are resolved against
    /// the file's directory.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut cfg: Config = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(p) = cfg.policy.authz.take() {
            cfg.policy.authz = Some(base.join(p));
        }
        cfg.gates.policy = cfg.gates.policy.iter().map(|p| base.join(p)).collect();
        if let Some(p) = cfg.gates.data.take() {
            cfg.gates.data = Some(base.join(p));
        }
        if let Some(url) = &cfg.store.url {
            let loc = warden_store::PgLocation::parse(url).map_err(|e| Error::Config {
                path: path.to_path_buf(),
                message: format!("store.url: {e}"),
            })?;
            if loc.has_password() {
                return Err(Error::Config {
                    path: path.to_path_buf(),
                    message: "store.url holds a password; remove it and set PGPASSWORD (or WARDEN_STORE_URL) instead".into(),
                });
            }
        }
        if cfg.blobs.url.is_none() && (cfg.blobs.endpoint.is_some() || cfg.blobs.region.is_some()) {
            return Err(Error::Config {
                path: path.to_path_buf(),
                message: "blobs.endpoint and blobs.region need blobs.url".into(),
            });
        }
        cfg.blobs.s3().map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: format!("blobs.url: {e}"),
        })?;
        if cfg.gates.environments.is_empty() {
            return Err(Error::Config {
                path: path.to_path_buf(),
                message: "gates.environments is empty".into(),
            });
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_typos_fail() {
        let c: Config = toml::from_str(DEFAULT_CONFIG).unwrap();
        assert!(c.policy.authz.is_none());
        assert_eq!(c.keys.pipeline, "pipeline");
        assert!(toml::from_str::<Config>("[policy]\nauthz_file = \"x\"\n").is_err());
        assert!(c.store.url.is_none());
    }

    #[test]
    fn a_store_url_with_a_password_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warden.toml");
        std::fs::write(&path, "[store]\nurl = \"postgres://w:pw@db/warden\"\n").unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("PGPASSWORD"), "{err}");
        assert!(!err.contains("pw@"), "{err}");
        std::fs::write(&path, "[store]\nurl = \"postgres://w@db/warden\"\n").unwrap();
        assert!(Config::load(&path).is_ok());
    }
}
