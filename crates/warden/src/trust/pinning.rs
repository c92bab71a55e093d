//! Policies pinned by digest: `policy register | status`.
//!
//! A gate decides only under the gate bundle registered for its
//! environment, and the authorisation policy decides only if it is the one
//! registered for the scope `authz`. Without a registration the bundled
//! policies are the registered ones, so a fresh workspace needs nothing;
//! pointing `warden.toml` at other files (weaker thresholds, a policy that
//! allows everything) changes nothing until an admin registers their
//! digest, an audited event — and for `production` a second admin must
//! confirm the same digest. Registrations live only in the log
//! (`policy.propose`, `policy.register`): there is no row to edit.

use std::collections::BTreeMap;

use serde::Serialize;
use warden_core::{Action, actions};

use crate::events;
use crate::ledger::check_event_row;
use crate::{Error, Workspace};

/// The scope of the authorisation policy's registration.
pub const AUTHZ_SCOPE: &str = "authz";
/// The environment whose registrations need a second admin.
const TWO_ADMIN_ENV: &str = "production";

/// A registered (or proposed) policy digest.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Pin {
    /// An environment, or `authz`.
    pub scope: String,
    /// The policy's `sha256:` digest.
    pub digest: String,
    /// Where the policy was read from when registered: file paths, or
    /// `bundled:…`.
    pub origin: String,
    /// The admin who registered or proposed it.
    pub by: String,
    /// The event that made it.
    pub seq: i64,
}

/// One scope as `policy status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PinStatus {
    /// An environment, or `authz`.
    pub scope: String,
    /// The digest in force: registered, or the bundled policy's.
    pub registered: String,
    /// Whether `registered` is the bundled default (nothing registered).
    pub default: bool,
    /// The digest of the files `warden.toml` names now.
    pub on_disk: String,
    /// Where those files are: paths, or `bundled:…`.
    pub on_disk_origin: String,
    /// Whether `on_disk` is `registered`: only then does the policy decide.
    pub matches: bool,
    /// A production registration waiting for a second admin.
    pub proposed: Option<Pin>,
}

/// What `policy register` did.
#[derive(Clone, Debug, Serialize)]
pub struct Registered {
    /// An environment, or `authz`.
    pub scope: String,
    /// The `sha256:` digest registered or proposed.
    pub digest: String,
    /// `registered`, or `proposed` (waiting for a second admin).
    pub status: &'static str,
    /// The first admin, when this call confirmed their production proposal.
    pub proposed_by: Option<String>,
}

/// Registrations and open proposals, replayed from the log.
#[derive(Default)]
struct Pins {
    active: BTreeMap<String, Pin>,
    proposed: BTreeMap<String, Pin>,
}

impl Workspace {
    fn pins(&self) -> Result<Pins, Error> {
        let mut tx = self.store().read()?;
        let events =
            tx.events_with_actions(&[actions::POLICY_PROPOSE, actions::POLICY_REGISTER])?;
        let mut pins = Pins::default();
        for e in &events {
            check_event_row(e)?;
            let p: events::PolicyPinned = events::read(e)?;
            let pin = Pin {
                scope: p.scope.clone(),
                digest: p.digest,
                origin: p.origin,
                by: e.actor.clone(),
                seq: e.seq,
            };
            if e.action == actions::POLICY_REGISTER {
                pins.proposed.remove(&p.scope);
                pins.active.insert(p.scope, pin);
            } else {
                pins.proposed.insert(p.scope, pin);
            }
        }
        Ok(pins)
    }

    /// The digest in force for `scope`: registered, else the bundled one.
    fn registered_digest(&self, pins: &Pins, scope: &str) -> Result<(String, bool), Error> {
        match pins.active.get(scope) {
            Some(p) => Ok((p.digest.clone(), false)),
            None => Ok((bundled_digest(scope)?, true)),
        }
    }

    /// The digest and origin of the policy `warden.toml` names for `scope`.
    fn on_disk(&self, scope: &str) -> Result<(String, String), Error> {
        if scope == AUTHZ_SCOPE {
            let a = self.authz_lock();
            return Ok((a.digest().to_string(), self.authz_origin()));
        }
        self.check_env(scope)?;
        let g = self.gate_policy()?;
        Ok((g.digest().to_string(), g.origin().to_string()))
    }

    /// Whether any authorisation policy has been registered (so the
    /// bundled one is no longer in force by default).
    pub(crate) fn authz_registered_elsewhere(&self) -> Result<bool, Error> {
        Ok(self.pins()?.active.contains_key(AUTHZ_SCOPE))
    }

    /// Refuses a decision under a policy whose digest is not the one
    /// registered for `scope`, naming both.
    pub(crate) fn check_pinned(&self, scope: &str, digest: &str) -> Result<(), Error> {
        let pins = self.pins()?;
        let (registered, default) = self.registered_digest(&pins, scope)?;
        if registered == digest {
            return Ok(());
        }
        Err(Error::PolicyNotRegistered {
            scope: scope.to_string(),
            registered: if default {
                format!("{registered} (the bundled policy; nothing registered)")
            } else {
                registered
            },
            on_disk: digest.to_string(),
        })
    }

    /// Registers the policy `warden.toml` names now for `scope` (an
    /// environment, or `authz`). For `production` the first admin's call
    /// proposes and a second admin's call with the same digest registers.
    pub fn policy_register(&self, scope: &str) -> Result<Registered, Error> {
        self.authorize(Action::PolicyRegister, &format!("policy:{scope}"))?;
        let (digest, origin) = self.on_disk(scope)?;
        let pins = self.pins()?;
        let (current, _) = self.registered_digest(&pins, scope)?;
        if current == digest {
            return Err(Error::Conflict(format!(
                "{digest} is already the policy registered for {scope}"
            )));
        }
        let proposal = pins.proposed.get(scope);
        let (action, status, proposed_by) = if scope != TWO_ADMIN_ENV {
            (actions::POLICY_REGISTER, "registered", None)
        } else {
            match proposal {
                Some(p) if p.digest == digest && p.by != self.actor().as_str() => {
                    (actions::POLICY_REGISTER, "registered", Some(p.by.clone()))
                }
                Some(p) if p.digest == digest => {
                    return Err(Error::Conflict(format!(
                        "{} already proposed {digest} for {scope}; a second admin must register it",
                        p.by
                    )));
                }
                _ => (actions::POLICY_PROPOSE, "proposed", None),
            }
        };
        let mut tx = self.store().write()?;
        events::append(
            &mut *tx,
            self.actor(),
            action,
            &format!("policy:{scope}"),
            &events::PolicyPinned {
                scope: scope.to_string(),
                digest: digest.clone(),
                origin: origin.clone(),
                previous: Some(current),
                proposed_by: proposed_by.clone(),
            },
        )?;
        self.commit(tx)?;
        Ok(Registered {
            scope: scope.to_string(),
            digest,
            status,
            proposed_by,
        })
    }

    /// Registered against on-disk digests, for `authz` and every
    /// environment.
    pub fn policy_status(&self) -> Result<Vec<PinStatus>, Error> {
        self.authorize(Action::PolicyStatus, "policy")?;
        let pins = self.pins()?;
        let mut scopes = vec![AUTHZ_SCOPE.to_string()];
        scopes.extend(self.config().gates.environments.iter().cloned());
        let mut out = Vec::new();
        for scope in scopes {
            let (registered, default) = self.registered_digest(&pins, &scope)?;
            let (on_disk, on_disk_origin) = self.on_disk(&scope)?;
            out.push(PinStatus {
                matches: registered == on_disk,
                scope: scope.clone(),
                registered,
                default,
                on_disk,
                on_disk_origin,
                proposed: pins.proposed.get(&scope).cloned(),
            });
        }
        Ok(out)
    }
}

/// The digest of the bundled policy for a scope. The bundled policies are
/// compiled into the binary, so each digest is computed (by compiling the
/// policy, which is most of a small decision's cost) once per process.
fn bundled_digest(scope: &str) -> Result<String, Error> {
    static AUTHZ: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static GATE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let (cell, compute): (_, fn() -> Result<String, Error>) = if scope == AUTHZ_SCOPE {
        (&AUTHZ, || {
            Ok(warden_policy::Authorizer::bundled()?.digest().to_string())
        })
    } else {
        (&GATE, || {
            Ok(warden_policy::Gate::bundled()?.digest().to_string())
        })
    };
    if let Some(d) = cell.get() {
        return Ok(d.clone());
    }
    let d = compute()?;
    Ok(cell.get_or_init(|| d).clone())
}
