//! `warden migrate --to CONFIG`: moving a workspace's metadata from its
//! SQLite file into PostgreSQL, for a registry several replicas share.
//!
//! The copy is verbatim (the log is moved, not replayed), checked table by
//! table and against the log's root, and only then does `warden.toml`
//! point at the new store, whose first event of its own records the move.
//! The SQLite file stays where it was, untouched, as the rollback.

use std::path::Path;

use serde::Serialize;
use warden_core::{Action, actions};
use warden_store::{CopyReport, PgStore, copy_sqlite_to_postgres};

use crate::config::{CONFIG_STORE_HEADER, Config, STORE_URL_EXAMPLE};
use crate::workspace::{CONFIG_FILE, DB_FILE, WORKSPACE_DIR, store_location};
use crate::{Error, Workspace, events};

/// What a migration did.
#[derive(Clone, Debug, Serialize)]
pub struct MigrateOutcome {
    /// The new store (no password).
    pub to: String,
    /// The copy, table by table, and the log both stores agree on.
    pub copy: CopyReport,
    /// The `workspace.migrate` event the new store recorded.
    pub event_seq: u64,
    /// The SQLite file left in place (no longer used).
    pub old_database: String,
}

impl Workspace {
    /// Copies this workspace's metadata into the PostgreSQL database that
    /// `target`'s `[store] url` names (which must be empty), verifies the
    /// copy, points `warden.toml` at it and records the move there.
    pub fn migrate_store(&self, target: &Path) -> Result<MigrateOutcome, Error> {
        self.authorize(Action::WorkspaceMigrate, "workspace")?;
        let Some(sqlite) = self.sqlite_store() else {
            return Err(Error::Invalid(
                "this workspace's metadata is already in PostgreSQL; there is nothing to migrate"
                    .into(),
            ));
        };
        let target_config = Config::load(target)?;
        let url = target_config
            .store
            .url
            .as_deref()
            .ok_or_else(|| Error::Config {
                path: target.to_path_buf(),
                message: "no [store] url: name the PostgreSQL database to migrate into".into(),
            })?;
        let location = store_location(Some(url), false)?.ok_or_else(|| Error::Config {
            path: target.to_path_buf(),
            message: "no [store] url".into(),
        })?;
        let pg = PgStore::create(&location)?;
        let copy = copy_sqlite_to_postgres(sqlite, &pg)?;
        drop(pg);

        // The copy is proved: point the workspace at it, then record the
        // move through the new store as any operation is recorded.
        let config_path = self.root().join(CONFIG_FILE);
        let text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let updated = with_store_url(&text, url);
        crate::workspace::write_atomic(&config_path, updated.as_bytes())?;
        let moved = Workspace::open(self.root(), self.actor().clone(), &self.reopen_options())?;
        let mut tx = moved.store().write()?;
        let event = events::append(
            &mut *tx,
            moved.actor(),
            actions::WORKSPACE_MIGRATE,
            "workspace",
            &events::WorkspaceMigrated {
                from: format!("sqlite:{WORKSPACE_DIR}/{DB_FILE}"),
                to: format!("postgres:{location}"),
                copied_events: copy.log_size,
                copied_root: copy.log_root.clone(),
                rows: copy
                    .tables
                    .iter()
                    .map(|t| (t.table.clone(), t.rows))
                    .collect(),
            },
        )?;
        moved.commit(tx)?;
        Ok(MigrateOutcome {
            to: location.to_string(),
            copy,
            event_seq: event.seq,
            old_database: format!("{WORKSPACE_DIR}/{DB_FILE}"),
        })
    }
}

/// `warden.toml` with `[store] url` set: the commented example line
/// replaced, or the line added under an existing `[store]` header, or a
/// `[store]` table appended.
fn with_store_url(text: &str, url: &str) -> String {
    let line = format!("url = {}", toml::Value::String(url.to_string()));
    if text.contains(STORE_URL_EXAMPLE) {
        return text.replacen(STORE_URL_EXAMPLE, &line, 1);
    }
    let mut out = String::with_capacity(text.len() + line.len() + 16);
    let mut placed = false;
    for l in text.split_inclusive('\n') {
        out.push_str(l);
        if !placed && l.trim() == CONFIG_STORE_HEADER {
            if !l.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&line);
            out.push('\n');
            placed = true;
        }
    }
    if !placed {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("\n{CONFIG_STORE_HEADER}\n{line}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_CONFIG;

    #[test]
    fn the_store_url_goes_where_the_file_can_hold_it() {
        let url = "postgres://w@db/warden";
        for text in [
            DEFAULT_CONFIG.to_string(),
            "[policy]\n".to_string(),
            "[store]\n# nothing yet\n[keys]\n".to_string(),
            "[gates]".to_string(),
        ] {
            let out = with_store_url(&text, url);
            let cfg: Config = toml::from_str(&out).unwrap();
            assert_eq!(cfg.store.url.as_deref(), Some(url), "{out}");
        }
    }
}
