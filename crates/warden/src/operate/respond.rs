//! Responses to what the monitor saw: a closed drift window or an abuse
//! signal goes to the `data.warden.monitor` policy, and each decision it
//! returns is carried out here as the workspace's actor (the server's
//! `warden-monitor`): an alert is only reported, a rollback or quarantine
//! moves the environment, a block or throttle holds an API key. Front ends
//! keep the windows and the metrics; what is decided and done is the
//! engine's.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;
use warden_core::{ObjectName, VersionRef};
use warden_policy::{MonitorDecision, MonitorPolicy};

use crate::{Error, Workspace};

/// What a monitoring decision asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Response {
    /// Tell a person (the webhook, the log).
    Alert,
    /// Slow one API key down.
    Throttle,
    /// Stop one API key.
    Block,
    /// Point the environment back at its previous version.
    Rollback,
    /// Quarantine the served version (the environment stops serving it).
    Quarantine,
}

impl Response {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "alert" => Response::Alert,
            "throttle" => Response::Throttle,
            "block" => Response::Block,
            "rollback" => Response::Rollback,
            "quarantine" => Response::Quarantine,
            _ => return None,
        })
    }

    /// The policy's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Response::Alert => "alert",
            Response::Throttle => "throttle",
            Response::Block => "block",
            Response::Rollback => "rollback",
            Response::Quarantine => "quarantine",
        }
    }

    /// Whether it moves the environment off the served version.
    pub fn moves(self) -> bool {
        matches!(self, Response::Rollback | Response::Quarantine)
    }

    /// [`Response::moves`] for an action as the policy named it.
    pub fn moves_named(action: &str) -> bool {
        Response::parse(action).is_some_and(Response::moves)
    }
}

/// How carrying out a decision ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// Carried out (an alert: handed on to be sent).
    Done,
    /// Not carried out, by design: paused, already in place, no key named,
    /// an unknown action.
    Skipped,
    /// Tried, and the engine refused or failed.
    Failed,
}

impl OutcomeKind {
    /// `done`, `skipped` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Done => "done",
            OutcomeKind::Skipped => "skipped",
            OutcomeKind::Failed => "failed",
        }
    }
}

/// One decision and what came of it.
#[derive(Clone, Debug, Serialize)]
pub struct Responded {
    /// The action the policy named (as written, even if unknown).
    pub action: String,
    /// The API key the decision is about (block and throttle), as the
    /// policy named it.
    pub key: Option<String>,
    /// The policy's reason.
    pub reason: String,
    /// How carrying it out ended.
    pub kind: OutcomeKind,
    /// What came of it, in words: `sent` (an alert), `done` or `done: …`,
    /// `skipped: why`, `failed: error`.
    pub outcome: String,
}

impl Responded {
    /// Whether this was an alert (to be delivered to people).
    pub fn is_alert(&self) -> bool {
        self.action == Response::Alert.as_str()
    }
}

/// The monitoring policy and what has been done in this run, so the same
/// response is not carried out twice.
pub struct Responder {
    policy: MonitorPolicy,
    throttle_rate: f64,
    /// `block:KEY` and `throttle:KEY` already in place.
    held: HashSet<String>,
    /// Versions already rolled back or quarantined: until the server loads
    /// what replaced them their windows keep closing, and acting again
    /// would undo the first action.
    moved: HashSet<(String, u64)>,
}

impl Responder {
    /// The bundled policy, or the Rego file `policy` in its place; a
    /// throttled key gets `throttle_rate` requests per second.
    pub fn new(policy: Option<&Path>, throttle_rate: f64) -> Result<Self, Error> {
        let policy = match policy {
            Some(p) => MonitorPolicy::from_file(p),
            None => MonitorPolicy::bundled(),
        }?;
        Ok(Responder {
            policy,
            throttle_rate,
            held: HashSet::new(),
            moved: HashSet::new(),
        })
    }

    /// Asks the policy about `input` (a window or a signal about model
    /// `name` at `version` served in `env`) and carries out each decision.
    /// A policy that fails to evaluate is an error and nothing is done.
    pub fn respond(
        &mut self,
        ws: &Workspace,
        env: &str,
        name: &str,
        version: u64,
        input: &serde_json::Value,
    ) -> Result<Vec<Responded>, Error> {
        let decisions = self.policy.decide(input)?;
        if decisions.is_empty() {
            return Ok(Vec::new());
        }
        let paused = match ws.monitor_paused(name) {
            Ok(p) => p.is_some(),
            // Unsure whether paused: act only by alerting.
            Err(_) => true,
        };
        Ok(decisions
            .into_iter()
            .map(|d| {
                let (kind, outcome) = self.act(ws, env, name, version, &d, paused);
                Responded {
                    action: d.action,
                    key: d.key,
                    reason: d.reason,
                    kind,
                    outcome,
                }
            })
            .collect())
    }

    fn act(
        &mut self,
        ws: &Workspace,
        env: &str,
        name: &str,
        version: u64,
        d: &MonitorDecision,
        paused: bool,
    ) -> (OutcomeKind, String) {
        let skipped = |why: &str| (OutcomeKind::Skipped, format!("skipped: {why}"));
        let Some(response) = Response::parse(&d.action) else {
            return skipped(&format!("unknown action {}", d.action));
        };
        if response == Response::Alert {
            return (OutcomeKind::Done, "sent".into());
        }
        if paused {
            return skipped("automated responses are paused for this model");
        }
        if response.moves() && self.moved.contains(&(name.to_string(), version)) {
            return skipped(
                "this version was already moved out; waiting for the server to load its replacement",
            );
        }
        let result = match response {
            Response::Alert => return (OutcomeKind::Done, "sent".into()),
            Response::Rollback => ObjectName::new(name)
                .map_err(Error::from)
                .and_then(|n| ws.rollback(&n, env))
                .map(|r| match r.from {
                    Some(from) => {
                        format!("done: {} {}@{from} -> {}@{}", r.env, r.model, r.model, r.to)
                    }
                    None => format!("done: {} -> {}@{}", r.env, r.model, r.to),
                }),
            Response::Quarantine => ObjectName::new(name)
                .map_err(Error::from)
                .and_then(|n| {
                    ws.quarantine(
                        &VersionRef {
                            name: n,
                            version: Some(version),
                        },
                        &format!("warden-monitor: {}", d.reason),
                    )
                })
                .map(|_| "done".to_string()),
            Response::Block | Response::Throttle => {
                let Some(key) = &d.key else {
                    return skipped("no key named");
                };
                if key.starts_with("jwt:") {
                    return skipped("token callers are blocked at the identity provider");
                }
                let tag = format!("{}:{key}", response.as_str());
                if self.held.contains(&tag) {
                    return skipped("already in place");
                }
                let rate = (response == Response::Throttle).then_some(self.throttle_rate);
                let r = ws
                    .apikey_hold(
                        key,
                        response.as_str(),
                        rate,
                        &format!("warden-monitor: {}", d.reason),
                    )
                    .map(|_| "done".to_string());
                if r.is_ok() {
                    self.held.insert(tag);
                }
                r
            }
        };
        match result {
            Ok(s) => {
                if response.moves() {
                    self.moved.insert((name.to_string(), version));
                }
                (OutcomeKind::Done, s)
            }
            Err(e) => (OutcomeKind::Failed, format!("failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_action_has_a_response() {
        for a in warden_policy::MONITOR_ACTIONS {
            let r = Response::parse(a).expect(a);
            assert_eq!(r.as_str(), a);
        }
        assert_eq!(Response::parse("launch"), None);
        assert!(Response::Rollback.moves() && Response::Quarantine.moves());
        assert!(!Response::Block.moves() && !Response::Alert.moves());
    }
}
