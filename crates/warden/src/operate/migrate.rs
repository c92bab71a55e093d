//! `warden migrate --to CONFIG`: moving a workspace's metadata from its
//! SQLite file into PostgreSQL, and its blobs from `.warden/blobs/` into
//! S3-compatible object storage, for a registry several replicas share.
//!
//! Each copy is proved before anything points at it: every blob is read
//! back from the new store and its digest checked; the metadata is copied
//! verbatim (the log is moved, not replayed) and compared table by table
//! and by the log's root. Only then does `warden.toml` name the new stores,
//! and the `workspace.migrate` event records the move. The old file and
//! directory stay where they were, untouched, as the way back.

use std::path::Path;

use serde::Serialize;
use warden_core::{Action, actions};
use warden_store::{BlobStore, CopyReport, PgStore, S3BlobStore, copy_sqlite_to_postgres};

use crate::config::Config;
use crate::events::{BlobsMoved, MetadataMoved, WorkspaceMigrated};
use crate::workspace::{CONFIG_FILE, DB_FILE, WORKSPACE_DIR, store_location};
use crate::{Error, Workspace, events};

/// What a migration did.
#[derive(Clone, Debug, Serialize)]
pub struct MigrateOutcome {
    /// The new metadata store (no password), when the metadata moved.
    pub to_store: Option<String>,
    /// The metadata copy, table by table, and the log both stores agree on.
    pub copy: Option<CopyReport>,
    /// The new blob store, when the blobs moved.
    pub to_blobs: Option<String>,
    /// Blobs copied and checked.
    pub blobs: Option<u64>,
    /// Their bytes.
    pub blob_bytes: Option<u64>,
    /// The `workspace.migrate` event.
    pub event_seq: u64,
    /// What is left in place, no longer used.
    pub left_in_place: Vec<String>,
}

impl Workspace {
    /// Moves this workspace's metadata into the PostgreSQL database that
    /// `target`'s `[store] url` names (which must be empty) and/or its blobs
    /// into the S3 location of `target`'s `[blobs]`, verifies both copies,
    /// points `warden.toml` at them and records the move.
    pub fn migrate_store(&self, target: &Path) -> Result<MigrateOutcome, Error> {
        self.authorize(Action::WorkspaceMigrate, "workspace")?;
        let target_config = Config::load(target)?;
        let store_url = target_config.store.url.as_deref();
        let s3 = target_config.blobs.s3()?;
        if store_url.is_none() && s3.is_none() {
            return Err(Error::Config {
                path: target.to_path_buf(),
                message: "neither [store] url nor [blobs] url: nothing to migrate to".into(),
            });
        }
        let sqlite = match store_url {
            Some(_) => Some(self.sqlite_store().ok_or_else(|| {
                Error::Invalid(
                    "this workspace's metadata is already in PostgreSQL; remove [store] url from the target to move only the blobs".into(),
                )
            })?),
            None => None,
        };
        let fs = match &s3 {
            Some(_) => Some(self.fs_blobs().ok_or_else(|| {
                Error::Invalid(
                    "this workspace's blobs are already in S3; remove [blobs] url from the target to move only the metadata".into(),
                )
            })?),
            None => None,
        };
        let mut left = Vec::new();

        // Blobs first: copying them changes nothing the workspace uses.
        let mut blobs_moved = None;
        if let (Some(loc), Some(fs)) = (&s3, fs) {
            let target_blobs = S3BlobStore::open(loc, self.root().join(WORKSPACE_DIR).join("tmp"))?;
            let (mut count, mut bytes) = (0u64, 0u64);
            for digest in fs.digests()? {
                // Streamed, never whole in memory: the local read checks the
                // digest as it goes, and a mismatch fails the upload.
                let (stored, len) = target_blobs.put_with(&mut |w| {
                    fs.copy_to(&digest, w)
                        .map(|_| ())
                        .map_err(std::io::Error::other)
                })?;
                if stored != digest {
                    return Err(Error::Invalid(format!(
                        "blob {digest} was stored in {loc} as {stored}"
                    )));
                }
                // Read back: the new store must hand out exactly these bytes.
                target_blobs.copy_to(&digest, &mut std::io::sink())?;
                count += 1;
                bytes += len;
            }
            blobs_moved = Some(BlobsMoved {
                from: format!("{WORKSPACE_DIR}/blobs"),
                to: loc.to_string(),
                count,
                bytes,
            });
            left.push(format!("{WORKSPACE_DIR}/blobs"));
        }

        let mut metadata_moved = None;
        let mut copy = None;
        let mut to_store = None;
        if let (Some(url), Some(sqlite)) = (store_url, sqlite) {
            let location = store_location(Some(url), false)?
                .ok_or_else(|| Error::Invalid("no [store] url".into()))?;
            let pg = PgStore::create(&location)?;
            let report = copy_sqlite_to_postgres(sqlite, &pg)?;
            drop(pg);
            metadata_moved = Some(MetadataMoved {
                from: format!("sqlite:{WORKSPACE_DIR}/{DB_FILE}"),
                to: format!("postgres:{location}"),
                copied_events: report.log_size,
                copied_root: report.log_root.clone(),
                rows: report
                    .tables
                    .iter()
                    .map(|t| (t.table.clone(), t.rows))
                    .collect(),
            });
            to_store = Some(location.to_string());
            copy = Some(report);
            left.push(format!("{WORKSPACE_DIR}/{DB_FILE}"));
        }

        // Both copies are proved: point the workspace at them, then record
        // the move through the new stores as any operation is recorded.
        let config_path = self.root().join(CONFIG_FILE);
        let mut text =
            std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        if let Some(url) = store_url {
            text = with_table_lines(&text, "[store]", &[("url", url)]);
        }
        if s3.is_some() {
            let b = &target_config.blobs;
            let mut lines = Vec::new();
            if let Some(u) = &b.url {
                lines.push(("url", u.as_str()));
            }
            if let Some(e) = &b.endpoint {
                lines.push(("endpoint", e.as_str()));
            }
            if let Some(r) = &b.region {
                lines.push(("region", r.as_str()));
            }
            text = with_table_lines(&text, "[blobs]", &lines);
        }
        crate::workspace::write_atomic(&config_path, text.as_bytes())?;
        let moved = Workspace::open(self.root(), self.actor().clone(), &self.reopen_options())?;
        let mut tx = moved.store().write()?;
        let event = events::append(
            &mut *tx,
            moved.actor(),
            actions::WORKSPACE_MIGRATE,
            "workspace",
            &WorkspaceMigrated {
                metadata: metadata_moved,
                blobs: blobs_moved.clone(),
            },
        )?;
        moved.commit(tx)?;
        Ok(MigrateOutcome {
            to_store,
            copy,
            to_blobs: s3.as_ref().map(ToString::to_string),
            blobs: blobs_moved.as_ref().map(|b| b.count),
            blob_bytes: blobs_moved.as_ref().map(|b| b.bytes),
            event_seq: event.seq,
            left_in_place: left,
        })
    }
}

/// `text` (a `warden.toml`) with `key = "value"` lines set in the table
/// `header`: added right under the header when the file has it (the
/// defaults `init` writes have every table, their settings commented out),
/// else in a new table at the end.
pub(crate) fn with_table_lines(text: &str, header: &str, lines: &[(&str, &str)]) -> String {
    let mut block = String::new();
    for (k, v) in lines {
        block.push_str(&format!(
            "{k} = {}\n",
            toml::Value::String((*v).to_string())
        ));
    }
    let mut out = String::with_capacity(text.len() + block.len() + 16);
    let mut placed = false;
    for l in text.split_inclusive('\n') {
        out.push_str(l);
        if !placed && l.trim() == header {
            if !l.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&block);
            placed = true;
        }
    }
    if !placed {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("\n{header}\n{block}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_CONFIG;

    #[test]
    fn settings_go_where_the_file_can_hold_them() {
        let url = "postgres://w@db/warden";
        for text in [
            DEFAULT_CONFIG.to_string(),
            "[policy]\n".to_string(),
            "[store]\n# nothing yet\n[keys]\n".to_string(),
            "[gates]".to_string(),
            String::new(),
        ] {
            let out = with_table_lines(&text, "[store]", &[("url", url)]);
            let out = with_table_lines(
                &out,
                "[blobs]",
                &[("url", "s3://b/p"), ("endpoint", "https://s3.internal")],
            );
            let cfg: Config = toml::from_str(&out).unwrap();
            assert_eq!(cfg.store.url.as_deref(), Some(url), "{out}");
            assert_eq!(cfg.blobs.url.as_deref(), Some("s3://b/p"), "{out}");
            assert_eq!(
                cfg.blobs.endpoint.as_deref(),
                Some("https://s3.internal"),
                "{out}"
            );
        }
    }
}
