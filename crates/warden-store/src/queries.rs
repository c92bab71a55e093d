//! The store's queries and state changes, written once for every SQL
//! backend: [`SqlTx`] implements [`ReadTx`] and [`WriteTx`] over any
//! [`Session`]. The dialect rules are in [`crate::sql`].

use std::ops::ControlFlow;

use warden_core::{
    ActorName, AuditEvent, Digest, KeyName, ObjectName, RoleName, Timestamp, canonical_json,
};

use crate::merkle::{self, Frontier, Hash};
use crate::sql::{Arg, Row, Session, all, first, one, placeholders};
use crate::{
    AccessTokenRecord, ApiKeyRecord, ApprovalRecord, DatasetRecord, EvaluationRecord, EventFilter,
    EvidenceRecord, GateDecisionRecord, IncidentRecord, KeyHoldRecord, KeyRecord, ModelRecord,
    MonitorPauseRecord, MonitorWindowRecord, PipelineRunRecord, QuarantineRecord, ReadTx,
    RoleGrant, ScanRecord, StagePointer, StoreError, StoredCheckpoint, StoredEvent, WriteTx,
};

/// A transaction of any SQL backend, as the store's two transaction traits.
pub(crate) struct SqlTx<S: Session> {
    pub(crate) session: S,
}

impl<S: Session> SqlTx<S> {
    fn s(&mut self) -> &mut dyn Session {
        &mut self.session
    }

    /// The size and root of the stored checkpoints larger than `after`
    /// (every one with `None`), smallest first.
    fn checkpoint_roots_after_or_all(
        &mut self,
        after: Option<u64>,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        // -1 takes every size (sizes are never negative).
        let after = after.map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX));
        all(
            self.s(),
            "SELECT size, root_hash FROM audit_checkpoints WHERE size > ?1 ORDER BY size",
            &[Arg::int(after)],
            |mut r| Ok((r.u64(0)?, r.text(1)?)),
        )
    }

    /// The next id of a table whose ids count up from 1. Writers are
    /// serialised (SQLite's write lock, PostgreSQL's advisory lock), so no
    /// other transaction can take the same id.
    fn next_id(&mut self, table: &str) -> Result<i64, StoreError> {
        one(
            self.s(),
            &format!("SELECT COALESCE(MAX(id), 0) + 1 FROM {table}"),
            &[],
            |mut r| r.i64(0),
        )
    }
}

fn decode_hash(hex_str: &str) -> Option<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut h).ok()?;
    Some(h)
}

const KEY_COLUMNS: &str = "name, origin, algorithm, key_id, public_pem, added_by, added_at, revoked_at, revoked_by, \
     owner, purpose, acknowledged_by, acknowledged_at";

fn key_row(mut r: Row) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        name: r.name(0, KeyName::new)?,
        origin: r.text(1)?,
        algorithm: r.text(2)?,
        key_id: r.text(3)?,
        public_pem: r.text(4)?,
        added_by: r.name(5, ActorName::new)?,
        added_at: r.time(6)?,
        revoked_at: r.opt_time(7)?,
        revoked_by: r.opt_name(8, ActorName::new)?,
        owner: r.opt_name(9, ActorName::new)?,
        purpose: r.opt_text(10)?,
        acknowledged_by: r.opt_name(11, ActorName::new)?,
        acknowledged_at: r.opt_time(12)?,
    })
}

const EVENT_COLUMNS: &str = "seq, time, actor, action, subject, payload, event, leaf_hash";

fn event_row(mut r: Row) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        seq: r.i64(0)?,
        time: r.text(1)?,
        actor: r.text(2)?,
        action: r.text(3)?,
        subject: r.text(4)?,
        payload: r.text(5)?,
        event: r.text(6)?,
        leaf_hash: r.text(7)?,
    })
}

const DATASET_COLUMNS: &str = "name, version, digest, source_digest, output_digest, rows, report_digest, report_md_digest, manifest, created_by, created_at";

fn dataset_row(mut r: Row) -> Result<DatasetRecord, StoreError> {
    Ok(DatasetRecord {
        name: r.name(0, ObjectName::new)?,
        version: r.u64(1)?,
        digest: r.text(2)?,
        source_digest: r.text(3)?,
        output_digest: r.text(4)?,
        rows: r.u64(5)?,
        report_digest: r.text(6)?,
        report_md_digest: r.text(7)?,
        manifest: r.text(8)?,
        created_by: r.name(9, ActorName::new)?,
        created_at: r.time(10)?,
    })
}

const MODEL_COLUMNS: &str = "name, version, digest, kind, files, signature_digest, signed_by, manifest, created_by, created_at";

fn model_row(mut r: Row) -> Result<ModelRecord, StoreError> {
    Ok(ModelRecord {
        name: r.name(0, ObjectName::new)?,
        version: r.u64(1)?,
        digest: r.text(2)?,
        kind: r.text(3)?,
        files: r.text(4)?,
        signature_digest: r.text(5)?,
        signed_by: r.text(6)?,
        manifest: r.text(7)?,
        created_by: r.name(8, ActorName::new)?,
        created_at: r.time(9)?,
    })
}

const EVALUATION_COLUMNS: &str = "id, model, model_version, model_digest, dataset, dataset_version, digest, markdown_digest, report, created_by, created_at";

fn evaluation_row(mut r: Row) -> Result<EvaluationRecord, StoreError> {
    Ok(EvaluationRecord {
        id: r.u64(0)?,
        model: r.name(1, ObjectName::new)?,
        model_version: r.u64(2)?,
        model_digest: r.text(3)?,
        dataset: r.name(4, ObjectName::new)?,
        dataset_version: r.u64(5)?,
        digest: r.text(6)?,
        markdown_digest: r.text(7)?,
        report: r.text(8)?,
        created_by: r.name(9, ActorName::new)?,
        created_at: r.time(10)?,
    })
}

fn checkpoint_row(mut r: Row) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        size: r.u64(0)?,
        root_hash: r.text(1)?,
        note: r.text(2)?,
        time: r.time(3)?,
    })
}

const PIPELINE_RUN_COLUMNS: &str =
    "id, pipeline, status, document, digest, started_at, finished_at, created_by";

fn pipeline_run_row(mut r: Row) -> Result<PipelineRunRecord, StoreError> {
    Ok(PipelineRunRecord {
        id: r.u64(0)?,
        pipeline: r.text(1)?,
        status: r.text(2)?,
        document: r.text(3)?,
        digest: r.text(4)?,
        started_at: r.time(5)?,
        finished_at: r.time(6)?,
        created_by: r.name(7, ActorName::new)?,
    })
}

/// `(model, version)` of an optional model filter, as two typed arguments.
fn model_filter(model: Option<(&ObjectName, u64)>) -> [Arg<'_>; 2] {
    match model {
        Some((m, v)) => [Arg::text(m.as_str()), Arg::uint(v)],
        None => [Arg::Text(None), Arg::Int(None)],
    }
}

impl<S: Session> ReadTx for SqlTx<S> {
    fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        first(
            self.s(),
            "SELECT value FROM meta WHERE key = ?1",
            &[Arg::text(key)],
            |mut r| r.text(0),
        )
    }

    fn roles_of(&mut self, actor: &ActorName) -> Result<Vec<RoleName>, StoreError> {
        all(
            self.s(),
            "SELECT role FROM role_grants WHERE actor = ?1 ORDER BY role",
            &[Arg::text(actor.as_str())],
            |mut r| r.name(0, RoleName::new),
        )
    }

    fn role_grants(&mut self) -> Result<Vec<RoleGrant>, StoreError> {
        all(
            self.s(),
            "SELECT actor, role, granted_by, time FROM role_grants ORDER BY actor, role",
            &[],
            |mut r| {
                Ok(RoleGrant {
                    actor: r.name(0, ActorName::new)?,
                    role: r.name(1, RoleName::new)?,
                    granted_by: r.name(2, ActorName::new)?,
                    time: r.time(3)?,
                })
            },
        )
    }

    fn count_role(&mut self, role: &RoleName) -> Result<u64, StoreError> {
        one(
            self.s(),
            "SELECT COUNT(*) FROM role_grants WHERE role = ?1",
            &[Arg::text(role.as_str())],
            |mut r| r.u64(0),
        )
    }

    fn key(&mut self, name: &KeyName) -> Result<Option<KeyRecord>, StoreError> {
        first(
            self.s(),
            &format!("SELECT {KEY_COLUMNS} FROM keys WHERE name = ?1"),
            &[Arg::text(name.as_str())],
            key_row,
        )
    }

    fn keys(&mut self) -> Result<Vec<KeyRecord>, StoreError> {
        all(
            self.s(),
            &format!("SELECT {KEY_COLUMNS} FROM keys ORDER BY name"),
            &[],
            key_row,
        )
    }

    fn dataset(
        &mut self,
        name: &ObjectName,
        version: Option<u64>,
    ) -> Result<Option<DatasetRecord>, StoreError> {
        first(
            self.s(),
            &format!(
                "SELECT {DATASET_COLUMNS} FROM datasets WHERE name = ?1 AND (?2 IS NULL OR version = ?2) \
                 ORDER BY version DESC LIMIT 1"
            ),
            &[Arg::text(name.as_str()), Arg::opt_uint(version)],
            dataset_row,
        )
    }

    fn datasets(&mut self) -> Result<Vec<DatasetRecord>, StoreError> {
        all(
            self.s(),
            &format!("SELECT {DATASET_COLUMNS} FROM datasets ORDER BY name, version"),
            &[],
            dataset_row,
        )
    }

    fn model(
        &mut self,
        name: &ObjectName,
        version: Option<u64>,
    ) -> Result<Option<ModelRecord>, StoreError> {
        first(
            self.s(),
            &format!(
                "SELECT {MODEL_COLUMNS} FROM models WHERE name = ?1 AND (?2 IS NULL OR version = ?2) \
                 ORDER BY version DESC LIMIT 1"
            ),
            &[Arg::text(name.as_str()), Arg::opt_uint(version)],
            model_row,
        )
    }

    fn models(&mut self) -> Result<Vec<ModelRecord>, StoreError> {
        all(
            self.s(),
            &format!("SELECT {MODEL_COLUMNS} FROM models ORDER BY name, version"),
            &[],
            model_row,
        )
    }

    fn model_versions(&mut self, name: &ObjectName) -> Result<Vec<ModelRecord>, StoreError> {
        all(
            self.s(),
            &format!("SELECT {MODEL_COLUMNS} FROM models WHERE name = ?1 ORDER BY version"),
            &[Arg::text(name.as_str())],
            model_row,
        )
    }

    fn model_names(
        &mut self,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<(ObjectName, u64, u64)>, StoreError> {
        all(
            self.s(),
            "SELECT name, COUNT(*), MAX(version) FROM models GROUP BY name ORDER BY name              LIMIT ?1 OFFSET ?2",
            &[Arg::uint(limit), Arg::uint(offset)],
            |mut r| Ok((r.name(0, ObjectName::new)?, r.u64(1)?, r.u64(2)?)),
        )
    }

    fn model_count(&mut self) -> Result<u64, StoreError> {
        one(
            self.s(),
            "SELECT COUNT(DISTINCT name) FROM models",
            &[],
            |mut r| r.u64(0),
        )
    }

    fn model_card(
        &mut self,
        model: &ObjectName,
        version: u64,
    ) -> Result<Option<(String, String)>, StoreError> {
        first(
            self.s(),
            "SELECT digest, missing FROM model_cards WHERE model = ?1 AND version = ?2",
            &[Arg::text(model.as_str()), Arg::uint(version)],
            |mut r| Ok((r.text(0)?, r.text(1)?)),
        )
    }

    fn evaluations(
        &mut self,
        model: &ObjectName,
        version: Option<u64>,
    ) -> Result<Vec<EvaluationRecord>, StoreError> {
        all(
            self.s(),
            &format!(
                "SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE model = ?1 AND (?2 IS NULL OR model_version = ?2) ORDER BY id"
            ),
            &[Arg::text(model.as_str()), Arg::opt_uint(version)],
            evaluation_row,
        )
    }

    fn scans(&mut self, model: Option<(&ObjectName, u64)>) -> Result<Vec<ScanRecord>, StoreError> {
        all(
            self.s(),
            "SELECT id, model, version, target, profile, max_severity, findings, files, incomplete, report_digest, created_by, created_at \
             FROM scans WHERE (?1 IS NULL OR (model = ?1 AND version = ?2)) ORDER BY id",
            &model_filter(model),
            |mut r| {
                Ok(ScanRecord {
                    id: r.u64(0)?,
                    model: r.opt_name(1, ObjectName::new)?,
                    version: r.opt_u64(2)?,
                    target: r.text(3)?,
                    profile: r.text(4)?,
                    max_severity: r.text(5)?,
                    findings: r.u64(6)?,
                    files: r.u64(7)?,
                    incomplete: r.u64(8)?,
                    report_digest: r.text(9)?,
                    created_by: r.name(10, ActorName::new)?,
                    created_at: r.time(11)?,
                })
            },
        )
    }

    fn approvals(
        &mut self,
        model: &ObjectName,
        version: u64,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        all(
            self.s(),
            "SELECT id, model, version, model_digest, env, approver, key_name, envelope, created_at \
             FROM approvals WHERE model = ?1 AND version = ?2 ORDER BY id",
            &[Arg::text(model.as_str()), Arg::uint(version)],
            |mut r| {
                Ok(ApprovalRecord {
                    id: r.u64(0)?,
                    model: r.name(1, ObjectName::new)?,
                    version: r.u64(2)?,
                    model_digest: r.text(3)?,
                    env: r.text(4)?,
                    approver: r.name(5, ActorName::new)?,
                    key_name: r.text(6)?,
                    envelope: r.text(7)?,
                    created_at: r.time(8)?,
                })
            },
        )
    }

    fn stages(&mut self, model: &ObjectName) -> Result<Vec<StagePointer>, StoreError> {
        all(
            self.s(),
            "SELECT model, env, version, updated_by, updated_at FROM stage_pointers WHERE model = ?1 ORDER BY env",
            &[Arg::text(model.as_str())],
            |mut r| {
                Ok(StagePointer {
                    model: r.name(0, ObjectName::new)?,
                    env: r.text(1)?,
                    version: r.u64(2)?,
                    updated_by: r.name(3, ActorName::new)?,
                    updated_at: r.time(4)?,
                })
            },
        )
    }

    fn gate_decisions(
        &mut self,
        model: &ObjectName,
    ) -> Result<Vec<GateDecisionRecord>, StoreError> {
        all(
            self.s(),
            "SELECT model, version, env, allowed, policy_digest, input_digest, reasons, created_by, created_at \
             FROM gate_decisions WHERE model = ?1 ORDER BY id",
            &[Arg::text(model.as_str())],
            |mut r| {
                Ok(GateDecisionRecord {
                    model: r.name(0, ObjectName::new)?,
                    version: r.u64(1)?,
                    env: r.text(2)?,
                    allowed: r.flag(3)?,
                    policy_digest: r.text(4)?,
                    input_digest: r.text(5)?,
                    reasons: r.text(6)?,
                    created_by: r.name(7, ActorName::new)?,
                    created_at: r.time(8)?,
                })
            },
        )
    }

    fn quarantine(
        &mut self,
        model: &ObjectName,
        version: u64,
    ) -> Result<Option<QuarantineRecord>, StoreError> {
        first(
            self.s(),
            "SELECT model, version, reason, created_by, created_at, released_by, released_at, release_reason \
             FROM quarantines WHERE model = ?1 AND version = ?2",
            &[Arg::text(model.as_str()), Arg::uint(version)],
            |mut r| {
                Ok(QuarantineRecord {
                    model: r.name(0, ObjectName::new)?,
                    version: r.u64(1)?,
                    reason: r.text(2)?,
                    created_by: r.name(3, ActorName::new)?,
                    created_at: r.time(4)?,
                    released_by: r.opt_name(5, ActorName::new)?,
                    released_at: r.opt_time(6)?,
                    release_reason: r.opt_text(7)?,
                })
            },
        )
    }

    fn incidents(&mut self) -> Result<Vec<IncidentRecord>, StoreError> {
        all(
            self.s(),
            "SELECT id, model, version, kind, summary, report_digest, markdown_digest, opened_by, opened_at, closed_by, closed_at, resolution \
             FROM incidents ORDER BY id",
            &[],
            |mut r| {
                Ok(IncidentRecord {
                    id: r.u64(0)?,
                    model: r.name(1, ObjectName::new)?,
                    version: r.u64(2)?,
                    kind: r.text(3)?,
                    summary: r.text(4)?,
                    report_digest: r.text(5)?,
                    markdown_digest: r.text(6)?,
                    opened_by: r.name(7, ActorName::new)?,
                    opened_at: r.time(8)?,
                    closed_by: r.opt_name(9, ActorName::new)?,
                    closed_at: r.opt_time(10)?,
                    resolution: r.opt_text(11)?,
                })
            },
        )
    }

    fn api_keys(&mut self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        all(
            self.s(),
            "SELECT id, name, role, key_hash, rate_limit, created_by, created_at, expires_at, revoked_by, revoked_at \
             FROM api_keys ORDER BY created_at, name",
            &[],
            |mut r| {
                Ok(ApiKeyRecord {
                    id: r.text(0)?,
                    name: r.text(1)?,
                    role: r.text(2)?,
                    key_hash: r.text(3)?,
                    rate_limit: r.opt_f64(4)?,
                    created_by: r.name(5, ActorName::new)?,
                    created_at: r.time(6)?,
                    expires_at: r.opt_time(7)?,
                    revoked_by: r.opt_name(8, ActorName::new)?,
                    revoked_at: r.opt_time(9)?,
                })
            },
        )
    }

    fn access_tokens(&mut self) -> Result<Vec<AccessTokenRecord>, StoreError> {
        all(
            self.s(),
            "SELECT id, name, owner, roles, token_hash, created_at, expires_at, revoked_by, revoked_at, last_used_at \
             FROM access_tokens ORDER BY created_at, id",
            &[],
            |mut r| {
                let roles = r.text(3)?;
                Ok(AccessTokenRecord {
                    id: r.text(0)?,
                    name: r.text(1)?,
                    owner: r.name(2, ActorName::new)?,
                    roles: roles
                        .split_whitespace()
                        .map(|x| {
                            RoleName::new(x).map_err(|e| StoreError::Row(format!("column 3: {e}")))
                        })
                        .collect::<Result<_, _>>()?,
                    token_hash: r.text(4)?,
                    created_at: r.time(5)?,
                    expires_at: r.time(6)?,
                    revoked_by: r.opt_name(7, ActorName::new)?,
                    revoked_at: r.opt_time(8)?,
                    last_used_at: r.opt_time(9)?,
                })
            },
        )
    }

    fn key_holds(&mut self) -> Result<Vec<KeyHoldRecord>, StoreError> {
        all(
            self.s(),
            "SELECT key_id, kind, rate_limit, reason, held_by, held_at FROM api_key_holds ORDER BY held_at, key_id",
            &[],
            |mut r| {
                Ok(KeyHoldRecord {
                    key_id: r.text(0)?,
                    kind: r.text(1)?,
                    rate_limit: r.opt_f64(2)?,
                    reason: r.text(3)?,
                    held_by: r.name(4, ActorName::new)?,
                    held_at: r.time(5)?,
                })
            },
        )
    }

    fn monitor_windows(
        &mut self,
        model: &ObjectName,
        limit: u64,
    ) -> Result<Vec<MonitorWindowRecord>, StoreError> {
        all(
            self.s(),
            "SELECT id, model, version, env, rows_seen, dataset_drift, prediction_drift, drifted_features, report, opened_at, closed_at \
             FROM monitor_windows WHERE model = ?1 ORDER BY id DESC LIMIT ?2",
            &[Arg::text(model.as_str()), Arg::uint(limit)],
            |mut r| {
                Ok(MonitorWindowRecord {
                    id: r.u64(0)?,
                    model: r.name(1, ObjectName::new)?,
                    version: r.u64(2)?,
                    env: r.text(3)?,
                    rows: r.u64(4)?,
                    dataset_drift: r.flag(5)?,
                    prediction_drift: r.flag(6)?,
                    drifted_features: r.u64(7)?,
                    report: r.text(8)?,
                    opened_at: r.time(9)?,
                    closed_at: r.time(10)?,
                })
            },
        )
    }

    fn monitor_pause(
        &mut self,
        model: &ObjectName,
    ) -> Result<Option<MonitorPauseRecord>, StoreError> {
        first(
            self.s(),
            "SELECT model, reason, paused_by, paused_at FROM monitor_pauses WHERE model = ?1",
            &[Arg::text(model.as_str())],
            |mut r| {
                Ok(MonitorPauseRecord {
                    model: r.name(0, ObjectName::new)?,
                    reason: r.text(1)?,
                    paused_by: r.name(2, ActorName::new)?,
                    paused_at: r.time(3)?,
                })
            },
        )
    }

    fn log_frontier(&mut self) -> Result<Frontier, StoreError> {
        let (size, peaks) = one(
            self.s(),
            "SELECT size, frontier FROM audit_log_state WHERE id = 1",
            &[],
            |mut r| Ok((r.i64(0)?, r.text(1)?)),
        )?;
        let size = u64::try_from(size)
            .map_err(|_| StoreError::LogState(format!("negative log size {size}")))?;
        let peaks = if peaks.is_empty() {
            Vec::new()
        } else {
            peaks
                .split(',')
                .map(|h| {
                    decode_hash(h)
                        .ok_or_else(|| StoreError::LogState(format!("bad frontier hash {h:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        Frontier::from_parts(size, peaks).ok_or_else(|| {
            StoreError::LogState(format!("frontier does not fit a tree of size {size}"))
        })
    }

    fn events(&mut self, f: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq >= ?1");
        if f.actor.is_some() {
            sql.push_str(" AND actor = ?2");
        } else {
            sql.push_str(" AND ?2 IS NULL");
        }
        // `model` matches `model` and `model.…`: the prefix is a LIKE
        // pattern with its own `\`, `%` and `_` escaped, so they match only
        // themselves.
        let family = f.action.as_deref().map(|a| {
            let mut p = String::with_capacity(a.len() + 2);
            for c in a.chars() {
                if matches!(c, '\\' | '%' | '_') {
                    p.push('\\');
                }
                p.push(c);
            }
            p.push_str(".%");
            p
        });
        if f.action.is_some() {
            sql.push_str(" AND (action = ?3 OR action LIKE ?5 ESCAPE '\\')");
        } else {
            sql.push_str(" AND ?3 IS NULL AND ?5 IS NULL");
        }
        sql.push_str(" ORDER BY seq LIMIT ?4");
        let args = [
            Arg::uint(f.since.unwrap_or(0)),
            Arg::opt_text(f.actor.as_deref()),
            Arg::opt_text(f.action.as_deref()),
            Arg::uint(f.limit.unwrap_or(u64::MAX)),
            Arg::opt_text(family.as_deref()),
        ];
        all(self.s(), &sql, &args, event_row)
    }

    fn events_with_actions(&mut self, actions: &[&str]) -> Result<Vec<StoredEvent>, StoreError> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        // One placeholder per action: the `audit_events_action` index
        // answers each, and the rows come back merged in log order.
        let marks = placeholders(1, actions.len());
        let args: Vec<Arg<'_>> = actions.iter().map(|a| Arg::text(a)).collect();
        all(
            self.s(),
            &format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events WHERE action IN ({marks}) ORDER BY seq"
            ),
            &args,
            event_row,
        )
    }

    fn events_about(
        &mut self,
        subject: &str,
        actions: &[&str],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        let marks = placeholders(2, actions.len());
        let mut args: Vec<Arg<'_>> = vec![Arg::text(subject)];
        args.extend(actions.iter().map(|a| Arg::text(a)));
        all(
            self.s(),
            &format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events WHERE subject = ?1 AND action IN ({marks}) ORDER BY seq"
            ),
            &args,
            event_row,
        )
    }

    fn events_with_actions_after(
        &mut self,
        actions: &[&str],
        seq: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        let marks = placeholders(1, actions.len());
        let after = actions.len() + 1;
        let mut args: Vec<Arg<'_>> = actions.iter().map(|a| Arg::text(a)).collect();
        args.push(Arg::int(seq));
        all(
            self.s(),
            &format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events WHERE action IN ({marks}) AND seq > ?{after} ORDER BY seq"
            ),
            &args,
            event_row,
        )
    }

    fn scan_events(
        &mut self,
        visit: &mut dyn FnMut(StoredEvent) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.s().each(
            &format!("SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY seq"),
            &[],
            &mut |row| Ok(visit(event_row(row)?)),
        )
    }

    fn leaf_hashes(&mut self, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.leaf_hashes_between(0, size)
    }

    fn leaf_hashes_between(&mut self, from: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        let want = size.saturating_sub(from);
        let mut out: Vec<Hash> = Vec::with_capacity(want.min(1 << 24) as usize);
        self.s().each(
            "SELECT seq, leaf_hash FROM audit_events WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
            &[Arg::uint(from), Arg::uint(size)],
            &mut |mut row| {
                let seq = row.i64(0)?;
                let text = row.text(1)?;
                let next = from + out.len() as u64;
                if u64::try_from(seq).ok() != Some(next) {
                    return Err(StoreError::LogState(format!("event {next} is missing")));
                }
                out.push(decode_hash(&text).ok_or_else(|| {
                    StoreError::LogState(format!("event {seq} has a malformed leaf hash"))
                })?);
                Ok(ControlFlow::Continue(()))
            },
        )?;
        if (out.len() as u64) < want {
            return Err(StoreError::LogState(format!(
                "the log has {} events, fewer than {size}",
                from + out.len() as u64
            )));
        }
        Ok(out)
    }

    fn checkpoints(&mut self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        all(
            self.s(),
            "SELECT size, root_hash, note, time FROM audit_checkpoints ORDER BY size",
            &[],
            checkpoint_row,
        )
    }

    fn checkpoint_roots(&mut self) -> Result<Vec<(u64, String)>, StoreError> {
        self.checkpoint_roots_after_or_all(None)
    }

    fn checkpoint_roots_after(&mut self, size: u64) -> Result<Vec<(u64, String)>, StoreError> {
        self.checkpoint_roots_after_or_all(Some(size))
    }

    fn latest_checkpoint(&mut self) -> Result<Option<StoredCheckpoint>, StoreError> {
        first(
            self.s(),
            "SELECT size, root_hash, note, time FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
            &[],
            checkpoint_row,
        )
    }

    fn pipeline_runs(
        &mut self,
        pipeline: Option<&str>,
    ) -> Result<Vec<PipelineRunRecord>, StoreError> {
        all(
            self.s(),
            &format!(
                "SELECT {PIPELINE_RUN_COLUMNS} FROM pipeline_runs WHERE (?1 IS NULL OR pipeline = ?1) ORDER BY id"
            ),
            &[Arg::opt_text(pipeline)],
            pipeline_run_row,
        )
    }

    fn pipeline_run(&mut self, id: u64) -> Result<Option<PipelineRunRecord>, StoreError> {
        first(
            self.s(),
            &format!("SELECT {PIPELINE_RUN_COLUMNS} FROM pipeline_runs WHERE id = ?1"),
            &[Arg::uint(id)],
            pipeline_run_row,
        )
    }

    fn evidence(
        &mut self,
        model: Option<(&ObjectName, u64)>,
    ) -> Result<Vec<EvidenceRecord>, StoreError> {
        all(
            self.s(),
            "SELECT id, model, version, tool, kind, report_digest, summary, created_by, created_at \
             FROM evidence WHERE (?1 IS NULL OR (model = ?1 AND version = ?2)) ORDER BY id",
            &model_filter(model),
            |mut r| {
                Ok(EvidenceRecord {
                    id: r.u64(0)?,
                    model: r.name(1, ObjectName::new)?,
                    version: r.u64(2)?,
                    tool: r.text(3)?,
                    kind: r.text(4)?,
                    report_digest: r.text(5)?,
                    summary: r.text(6)?,
                    created_by: r.name(7, ActorName::new)?,
                    created_at: r.time(8)?,
                })
            },
        )
    }
}

impl<S: Session> WriteTx for SqlTx<S> {
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.s().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[Arg::text(key), Arg::text(value)],
        )?;
        Ok(())
    }

    fn grant_role(&mut self, g: &RoleGrant) -> Result<bool, StoreError> {
        let n = self.s().execute(
            "INSERT INTO role_grants (actor, role, granted_by, time) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (actor, role) DO NOTHING",
            &[
                Arg::text(g.actor.as_str()),
                Arg::text(g.role.as_str()),
                Arg::text(g.granted_by.as_str()),
                Arg::text(g.time.as_str()),
            ],
        )?;
        Ok(n == 1)
    }

    fn revoke_role(&mut self, actor: &ActorName, role: &RoleName) -> Result<bool, StoreError> {
        let n = self.s().execute(
            "DELETE FROM role_grants WHERE actor = ?1 AND role = ?2",
            &[Arg::text(actor.as_str()), Arg::text(role.as_str())],
        )?;
        Ok(n == 1)
    }

    fn insert_key(&mut self, k: &KeyRecord) -> Result<(), StoreError> {
        self.s().execute(
            &format!(
                "INSERT INTO keys ({KEY_COLUMNS}) VALUES ({})",
                placeholders(1, 13)
            ),
            &[
                Arg::text(k.name.as_str()),
                Arg::text(&k.origin),
                Arg::text(&k.algorithm),
                Arg::text(&k.key_id),
                Arg::text(&k.public_pem),
                Arg::text(k.added_by.as_str()),
                Arg::text(k.added_at.as_str()),
                Arg::opt_text(k.revoked_at.as_ref().map(Timestamp::as_str)),
                Arg::opt_text(k.revoked_by.as_ref().map(ActorName::as_str)),
                Arg::opt_text(k.owner.as_ref().map(ActorName::as_str)),
                Arg::opt_text(k.purpose.as_deref()),
                Arg::opt_text(k.acknowledged_by.as_ref().map(ActorName::as_str)),
                Arg::opt_text(k.acknowledged_at.as_ref().map(Timestamp::as_str)),
            ],
        )?;
        Ok(())
    }

    fn acknowledge_key(
        &mut self,
        name: &KeyName,
        by: &ActorName,
        at: &Timestamp,
    ) -> Result<bool, StoreError> {
        let n = self.s().execute(
            "UPDATE keys SET acknowledged_by = ?2, acknowledged_at = ?3 \
             WHERE name = ?1 AND acknowledged_at IS NULL AND revoked_at IS NULL",
            &[
                Arg::text(name.as_str()),
                Arg::text(by.as_str()),
                Arg::text(at.as_str()),
            ],
        )?;
        Ok(n == 1)
    }

    fn revoke_key(
        &mut self,
        name: &KeyName,
        by: &ActorName,
        at: &Timestamp,
    ) -> Result<bool, StoreError> {
        let n = self.s().execute(
            "UPDATE keys SET revoked_at = ?2, revoked_by = ?3 WHERE name = ?1 AND revoked_at IS NULL",
            &[
                Arg::text(name.as_str()),
                Arg::text(at.as_str()),
                Arg::text(by.as_str()),
            ],
        )?;
        Ok(n == 1)
    }

    fn insert_dataset(&mut self, d: &DatasetRecord) -> Result<(), StoreError> {
        self.s().execute(
            &format!(
                "INSERT INTO datasets ({DATASET_COLUMNS}) VALUES ({})",
                placeholders(1, 11)
            ),
            &[
                Arg::text(d.name.as_str()),
                Arg::uint(d.version),
                Arg::text(&d.digest),
                Arg::text(&d.source_digest),
                Arg::text(&d.output_digest),
                Arg::uint(d.rows),
                Arg::text(&d.report_digest),
                Arg::text(&d.report_md_digest),
                Arg::text(&d.manifest),
                Arg::text(d.created_by.as_str()),
                Arg::text(d.created_at.as_str()),
            ],
        )?;
        Ok(())
    }

    fn insert_model(&mut self, m: &ModelRecord) -> Result<(), StoreError> {
        self.s().execute(
            &format!(
                "INSERT INTO models ({MODEL_COLUMNS}) VALUES ({})",
                placeholders(1, 10)
            ),
            &[
                Arg::text(m.name.as_str()),
                Arg::uint(m.version),
                Arg::text(&m.digest),
                Arg::text(&m.kind),
                Arg::text(&m.files),
                Arg::text(&m.signature_digest),
                Arg::text(&m.signed_by),
                Arg::text(&m.manifest),
                Arg::text(m.created_by.as_str()),
                Arg::text(m.created_at.as_str()),
            ],
        )?;
        Ok(())
    }

    fn set_model_card(
        &mut self,
        model: &ObjectName,
        version: u64,
        digest: &str,
        missing: &str,
        by: &ActorName,
        at: &Timestamp,
    ) -> Result<(), StoreError> {
        self.s().execute(
            "INSERT INTO model_cards (model, version, digest, missing, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (model, version) DO UPDATE SET digest = excluded.digest, missing = excluded.missing, \
             created_by = excluded.created_by, created_at = excluded.created_at",
            &[
                Arg::text(model.as_str()),
                Arg::uint(version),
                Arg::text(digest),
                Arg::text(missing),
                Arg::text(by.as_str()),
                Arg::text(at.as_str()),
            ],
        )?;
        Ok(())
    }

    fn insert_evaluation(&mut self, e: &EvaluationRecord) -> Result<u64, StoreError> {
        let id = self.next_id("evaluations")?;
        self.s().execute(
            &format!(
                "INSERT INTO evaluations ({EVALUATION_COLUMNS}) VALUES ({})",
                placeholders(1, 11)
            ),
            &[
                Arg::int(id),
                Arg::text(e.model.as_str()),
                Arg::uint(e.model_version),
                Arg::text(&e.model_digest),
                Arg::text(e.dataset.as_str()),
                Arg::uint(e.dataset_version),
                Arg::text(&e.digest),
                Arg::text(&e.markdown_digest),
                Arg::text(&e.report),
                Arg::text(e.created_by.as_str()),
                Arg::text(e.created_at.as_str()),
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn insert_scan(&mut self, s: &ScanRecord) -> Result<u64, StoreError> {
        let id = self.next_id("scans")?;
        self.s().execute(
            "INSERT INTO scans (id, model, version, target, profile, max_severity, findings, files, incomplete, report_digest, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            &[
                Arg::int(id),
                Arg::opt_text(s.model.as_ref().map(ObjectName::as_str)),
                Arg::opt_uint(s.version),
                Arg::text(&s.target),
                Arg::text(&s.profile),
                Arg::text(&s.max_severity),
                Arg::uint(s.findings),
                Arg::uint(s.files),
                Arg::uint(s.incomplete),
                Arg::text(&s.report_digest),
                Arg::text(s.created_by.as_str()),
                Arg::text(s.created_at.as_str()),
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn insert_approval(&mut self, a: &ApprovalRecord) -> Result<u64, StoreError> {
        let id = self.next_id("approvals")?;
        self.s().execute(
            "INSERT INTO approvals (id, model, version, model_digest, env, approver, key_name, envelope, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            &[
                Arg::int(id),
                Arg::text(a.model.as_str()),
                Arg::uint(a.version),
                Arg::text(&a.model_digest),
                Arg::text(&a.env),
                Arg::text(a.approver.as_str()),
                Arg::text(&a.key_name),
                Arg::text(&a.envelope),
                Arg::text(a.created_at.as_str()),
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn set_stage(&mut self, p: &StagePointer) -> Result<(), StoreError> {
        self.s().execute(
            "INSERT INTO stage_pointers (model, env, version, updated_by, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (model, env) DO UPDATE SET version = excluded.version, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            &[
                Arg::text(p.model.as_str()),
                Arg::text(&p.env),
                Arg::uint(p.version),
                Arg::text(p.updated_by.as_str()),
                Arg::text(p.updated_at.as_str()),
            ],
        )?;
        Ok(())
    }

    fn remove_stage(&mut self, model: &ObjectName, env: &str) -> Result<(), StoreError> {
        self.s().execute(
            "DELETE FROM stage_pointers WHERE model = ?1 AND env = ?2",
            &[Arg::text(model.as_str()), Arg::text(env)],
        )?;
        Ok(())
    }

    fn insert_gate_decision(&mut self, d: &GateDecisionRecord) -> Result<u64, StoreError> {
        let id = self.next_id("gate_decisions")?;
        self.s().execute(
            "INSERT INTO gate_decisions (id, model, version, env, allowed, policy_digest, input_digest, reasons, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            &[
                Arg::int(id),
                Arg::text(d.model.as_str()),
                Arg::uint(d.version),
                Arg::text(&d.env),
                Arg::flag(d.allowed),
                Arg::text(&d.policy_digest),
                Arg::text(&d.input_digest),
                Arg::text(&d.reasons),
                Arg::text(d.created_by.as_str()),
                Arg::text(d.created_at.as_str()),
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn set_quarantine(&mut self, q: &QuarantineRecord) -> Result<(), StoreError> {
        self.s().execute(
            "INSERT INTO quarantines (model, version, reason, created_by, created_at, released_by, released_at, release_reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (model, version) DO UPDATE SET reason = excluded.reason, created_by = excluded.created_by, \
             created_at = excluded.created_at, released_by = excluded.released_by, released_at = excluded.released_at, \
             release_reason = excluded.release_reason",
            &[
                Arg::text(q.model.as_str()),
                Arg::uint(q.version),
                Arg::text(&q.reason),
                Arg::text(q.created_by.as_str()),
                Arg::text(q.created_at.as_str()),
                Arg::opt_text(q.released_by.as_ref().map(ActorName::as_str)),
                Arg::opt_text(q.released_at.as_ref().map(Timestamp::as_str)),
                Arg::opt_text(q.release_reason.as_deref()),
            ],
        )?;
        Ok(())
    }

    fn save_incident(&mut self, i: &IncidentRecord) -> Result<u64, StoreError> {
        let id = if i.id == 0 {
            self.next_id("incidents")?
        } else {
            i64::try_from(i.id).unwrap_or(i64::MAX)
        };
        self.s().execute(
            "INSERT INTO incidents (id, model, version, kind, summary, report_digest, markdown_digest, opened_by, opened_at, closed_by, closed_at, resolution) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (id) DO UPDATE SET closed_by = excluded.closed_by, closed_at = excluded.closed_at, resolution = excluded.resolution",
            &[
                Arg::int(id),
                Arg::text(i.model.as_str()),
                Arg::uint(i.version),
                Arg::text(&i.kind),
                Arg::text(&i.summary),
                Arg::text(&i.report_digest),
                Arg::text(&i.markdown_digest),
                Arg::text(i.opened_by.as_str()),
                Arg::text(i.opened_at.as_str()),
                Arg::opt_text(i.closed_by.as_ref().map(ActorName::as_str)),
                Arg::opt_text(i.closed_at.as_ref().map(Timestamp::as_str)),
                Arg::opt_text(i.resolution.as_deref()),
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn save_api_key(&mut self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        self.s().execute(
            "INSERT INTO api_keys (id, name, role, key_hash, rate_limit, created_by, created_at, expires_at, revoked_by, revoked_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (id) DO UPDATE SET revoked_by = excluded.revoked_by, revoked_at = excluded.revoked_at",
            &[
                Arg::text(&k.id),
                Arg::text(&k.name),
                Arg::text(&k.role),
                Arg::text(&k.key_hash),
                Arg::Real(k.rate_limit),
                Arg::text(k.created_by.as_str()),
                Arg::text(k.created_at.as_str()),
                Arg::opt_text(k.expires_at.as_ref().map(Timestamp::as_str)),
                Arg::opt_text(k.revoked_by.as_ref().map(ActorName::as_str)),
                Arg::opt_text(k.revoked_at.as_ref().map(Timestamp::as_str)),
            ],
        )?;
        Ok(())
    }

    fn save_key_hold(&mut self, h: &KeyHoldRecord) -> Result<(), StoreError> {
        self.s().execute(
            "INSERT INTO api_key_holds (key_id, kind, rate_limit, reason, held_by, held_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (key_id) DO UPDATE SET kind = excluded.kind, rate_limit = excluded.rate_limit, \
             reason = excluded.reason, held_by = excluded.held_by, held_at = excluded.held_at",
            &[
                Arg::text(&h.key_id),
                Arg::text(&h.kind),
                Arg::Real(h.rate_limit),
                Arg::text(&h.reason),
                Arg::text(h.held_by.as_str()),
                Arg::text(h.held_at.as_str()),
            ],
        )?;
        Ok(())
    }

    fn delete_key_hold(&mut self, key_id: &str) -> Result<bool, StoreError> {
        let n = self.s().execute(
            "DELETE FROM api_key_holds WHERE key_id = ?1",
            &[Arg::text(key_id)],
        )?;
        Ok(n > 0)
    }

    fn save_access_token(&mut self, t: &AccessTokenRecord) -> Result<(), StoreError> {
        let roles: Vec<&str> = t.roles.iter().map(RoleName::as_str).collect();
        let roles = roles.join(" ");
        self.s().execute(
            "INSERT INTO access_tokens (id, name, owner, roles, token_hash, created_at, expires_at, revoked_by, revoked_at, last_used_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (id) DO UPDATE SET revoked_by = excluded.revoked_by, revoked_at = excluded.revoked_at",
            &[
                Arg::text(&t.id),
                Arg::text(&t.name),
                Arg::text(t.owner.as_str()),
                Arg::text(&roles),
                Arg::text(&t.token_hash),
                Arg::text(t.created_at.as_str()),
                Arg::text(t.expires_at.as_str()),
                Arg::opt_text(t.revoked_by.as_ref().map(ActorName::as_str)),
                Arg::opt_text(t.revoked_at.as_ref().map(Timestamp::as_str)),
                Arg::opt_text(t.last_used_at.as_ref().map(Timestamp::as_str)),
            ],
        )?;
        Ok(())
    }

    fn touch_access_token(&mut self, id: &str, at: &Timestamp) -> Result<(), StoreError> {
        self.s().execute(
            "UPDATE access_tokens SET last_used_at = ?2 WHERE id = ?1",
            &[Arg::text(id), Arg::text(at.as_str())],
        )?;
        Ok(())
    }

    fn insert_pipeline_run(&mut self, run: &PipelineRunRecord) -> Result<u64, StoreError> {
        let id = self.next_id("pipeline_runs")?;
        self.s().execute(
            &format!(
                "INSERT INTO pipeline_runs ({PIPELINE_RUN_COLUMNS}) VALUES ({})",
                placeholders(1, 8)
            ),
            &[
                Arg::int(id),
                Arg::text(&run.pipeline),
                Arg::text(&run.status),
                Arg::text(&run.document),
                Arg::text(&run.digest),
                Arg::text(run.started_at.as_str()),
                Arg::text(run.finished_at.as_str()),
                Arg::text(run.created_by.as_str()),
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn insert_evidence(&mut self, e: &EvidenceRecord) -> Result<u64, StoreError> {
        let id = self.next_id("evidence")?;
        self.s().execute(
            "INSERT INTO evidence (id, model, version, tool, kind, report_digest, summary, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            &[
                Arg::int(id),
                Arg::text(e.model.as_str()),
                Arg::uint(e.version),
                Arg::text(&e.tool),
                Arg::text(&e.kind),
                Arg::text(&e.report_digest),
                Arg::text(&e.summary),
                Arg::text(e.created_by.as_str()),
                Arg::text(e.created_at.as_str()),
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn insert_monitor_window(&mut self, w: &MonitorWindowRecord) -> Result<u64, StoreError> {
        let id = self.next_id("monitor_windows")?;
        self.s().execute(
            "INSERT INTO monitor_windows (id, model, version, env, rows_seen, dataset_drift, prediction_drift, drifted_features, report, opened_at, closed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            &[
                Arg::int(id),
                Arg::text(w.model.as_str()),
                Arg::uint(w.version),
                Arg::text(&w.env),
                Arg::uint(w.rows),
                Arg::flag(w.dataset_drift),
                Arg::flag(w.prediction_drift),
                Arg::uint(w.drifted_features),
                Arg::text(&w.report),
                Arg::text(w.opened_at.as_str()),
                Arg::text(w.closed_at.as_str()),
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn save_monitor_pause(&mut self, p: &MonitorPauseRecord) -> Result<(), StoreError> {
        self.s().execute(
            "INSERT INTO monitor_pauses (model, reason, paused_by, paused_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (model) DO UPDATE SET reason = excluded.reason, paused_by = excluded.paused_by, paused_at = excluded.paused_at",
            &[
                Arg::text(p.model.as_str()),
                Arg::text(&p.reason),
                Arg::text(p.paused_by.as_str()),
                Arg::text(p.paused_at.as_str()),
            ],
        )?;
        Ok(())
    }

    fn delete_monitor_pause(&mut self, model: &ObjectName) -> Result<bool, StoreError> {
        let n = self.s().execute(
            "DELETE FROM monitor_pauses WHERE model = ?1",
            &[Arg::text(model.as_str())],
        )?;
        Ok(n > 0)
    }

    fn append_event(
        &mut self,
        actor: &ActorName,
        action: &str,
        subject: &str,
        payload: &serde_json::Value,
    ) -> Result<AuditEvent, StoreError> {
        let mut frontier = self.log_frontier()?;
        let payload_bytes = canonical_json(payload)?;
        let event = AuditEvent {
            seq: frontier.size(),
            time: Timestamp::now(),
            actor: actor.clone(),
            action: action.to_string(),
            subject: subject.to_string(),
            payload_digest: Digest::of(&payload_bytes),
        };
        let event_bytes = event.canonical_bytes()?;
        let leaf = merkle::leaf_hash(&event_bytes);
        frontier.push(leaf);
        // Canonical JSON is UTF-8 by construction.
        let payload_text = String::from_utf8_lossy(&payload_bytes);
        let event_text = String::from_utf8_lossy(&event_bytes);
        let leaf_hex = hex::encode(leaf);
        self.s().execute(
            &format!(
                "INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES ({})",
                placeholders(1, 8)
            ),
            &[
                Arg::uint(event.seq),
                Arg::text(event.time.as_str()),
                Arg::text(actor.as_str()),
                Arg::text(action),
                Arg::text(subject),
                Arg::text(&payload_text),
                Arg::text(&event_text),
                Arg::text(&leaf_hex),
            ],
        )?;
        let peaks: Vec<String> = frontier.peaks().iter().map(hex::encode).collect();
        let peaks = peaks.join(",");
        self.s().execute(
            "UPDATE audit_log_state SET size = ?1, frontier = ?2 WHERE id = 1",
            &[Arg::uint(frontier.size()), Arg::text(&peaks)],
        )?;
        Ok(event)
    }

    fn insert_checkpoint(&mut self, c: &StoredCheckpoint) -> Result<(), StoreError> {
        self.s().execute(
            "INSERT INTO audit_checkpoints (size, root_hash, note, time) VALUES (?1, ?2, ?3, ?4)",
            &[
                Arg::uint(c.size),
                Arg::text(&c.root_hash),
                Arg::text(&c.note),
                Arg::text(c.time.as_str()),
            ],
        )?;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.session.commit()
    }
}
