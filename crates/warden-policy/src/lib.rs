//! Decisions, written in Rego and evaluated with `regorus`.
//!
//! Rust computes facts; policies decide. This crate loads policies (the
//! bundled defaults or a user's `.rego` files), evaluates them over an input
//! document and returns typed decisions. Today that is authorisation
//! ([`Authorizer`], package `warden.authz`); promotion gates and monitor
//! responses use the same [`PolicySet`] machinery.
//!
//! ```
//! use warden_core::{Action, ActorName, RoleName};
//! let mut authz = warden_policy::Authorizer::bundled().unwrap();
//! let ana = ActorName::new("ana").unwrap();
//! let d = authz.decide(&ana, &[RoleName::new("auditor").unwrap()], Action::KeysGenerate).unwrap();
//! assert!(!d.allowed);
//! assert_eq!(d.allowing_roles, vec!["admin".to_string()]);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::{Path, PathBuf};

use serde_json::json;
use warden_core::{Action, ActorName, Digest, RoleName};

/// The bundled authorisation policy.
pub const BUNDLED_AUTHZ: &str = include_str!("../policies/authz.rego");
/// Its Rego tests.
pub const BUNDLED_AUTHZ_TESTS: &str = include_str!("../policies/authz_test.rego");

/// The bundled promotion gates and their thresholds.
pub const BUNDLED_GATE: &str = include_str!("../policies/gate.rego");
/// The bundled gates' thresholds (`data.warden.gate_config`).
pub const BUNDLED_GATE_DATA: &str = include_str!("../policies/gate-data.json");
/// Rego tests of the bundled gates (`warden policy test`).
pub const BUNDLED_GATE_TESTS: &str = include_str!("../policies/gate_test.rego");
/// The bundled monitoring response policy (`data.warden.monitor`).
pub const BUNDLED_MONITOR: &str = include_str!("../policies/monitor.rego");
/// Its Rego tests.
pub const BUNDLED_MONITOR_TESTS: &str = include_str!("../policies/monitor_test.rego");

/// A policy that could not be loaded or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A policy file could not be read.
    #[error("{path}: cannot read policy: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// regorus reports syntax errors with `file:line:col` and the offending line.
    #[error("policy does not compile:\n{0}")]
    Compile(String),
    /// The policy has no rule by the name asked for.
    #[error("policy {origin} does not define `{rule}`")]
    Undefined {
        /// Where the policy came from (a path, or `bundled:…`).
        origin: String,
        /// The rule's path, such as `data.warden.authz.allow`.
        rule: String,
    },
    /// A rule's value is not of the type the caller needs.
    #[error("policy {origin}: `{rule}` must be {expected}, found {found}")]
    WrongType {
        /// Where the policy came from.
        origin: String,
        /// The rule's path.
        rule: String,
        /// The type needed.
        expected: &'static str,
        /// What the rule gave.
        found: String,
    },
    /// The engine failed while evaluating a rule.
    #[error("evaluating `{rule}` failed: {message}")]
    Eval {
        /// The rule's path.
        rule: String,
        /// The engine's message.
        message: String,
    },
}

/// One or more Rego modules loaded into an engine, with a digest over their
/// sources so that every decision can name exactly which policy made it.
#[derive(Clone)]
pub struct PolicySet {
    engine: regorus::Engine,
    digest: Digest,
    origin: String,
}

impl PolicySet {
    /// Loads modules given as (name, source) pairs.
    pub fn from_sources(origin: &str, sources: &[(String, String)]) -> Result<Self, PolicyError> {
        let mut engine = regorus::Engine::new();
        // Errors from a policy must not depend on builtins silently returning
        // undefined.
        engine.set_strict_builtin_errors(true);
        let mut all = Vec::new();
        for (name, src) in sources {
            engine
                .add_policy(name.clone(), src.clone())
                .map_err(|e| PolicyError::Compile(e.to_string()))?;
            all.extend_from_slice(name.as_bytes());
            all.push(0);
            all.extend_from_slice(src.as_bytes());
            all.push(0);
        }
        Ok(PolicySet {
            engine,
            digest: Digest::of(&all),
            origin: origin.to_string(),
        })
    }

    /// Loads `.rego` files.
    pub fn from_files(paths: &[PathBuf]) -> Result<Self, PolicyError> {
        let mut sources = Vec::new();
        for p in paths {
            let src = std::fs::read_to_string(p).map_err(|e| PolicyError::Read {
                path: p.clone(),
                source: e,
            })?;
            sources.push((p.display().to_string(), src));
        }
        let origin = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        Self::from_sources(&origin, &sources)
    }

    /// Adds a data document (JSON) the policy reads as `data.…`; it joins
    /// the digest.
    pub fn add_data(&mut self, name: &str, json: &str) -> Result<(), PolicyError> {
        let value = regorus::Value::from_json_str(json)
            .map_err(|e| PolicyError::Compile(format!("{name}: not JSON: {e}")))?;
        self.engine
            .add_data(value)
            .map_err(|e| PolicyError::Compile(format!("{name}: {e}")))?;
        let mut all = self.digest.to_string().into_bytes();
        all.push(0);
        all.extend_from_slice(name.as_bytes());
        all.push(0);
        all.extend_from_slice(json.as_bytes());
        self.digest = Digest::of(&all);
        Ok(())
    }

    /// Runs every `test_*` rule of the loaded modules (Rego's convention):
    /// (rule, passed). A test passes when it evaluates to true.
    pub fn run_tests(
        &mut self,
        sources: &[(String, String)],
    ) -> Result<Vec<(String, bool)>, PolicyError> {
        let mut out = Vec::new();
        for (_, src) in sources {
            let Some(package) = src.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("package ")
                    .map(|p| p.trim().to_string())
            }) else {
                continue;
            };
            let mut names: Vec<String> = src
                .lines()
                .filter_map(|l| {
                    let l = l.trim_start();
                    let name: String = l
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    (name.starts_with("test_")
                        && l[name.len()..]
                            .trim_start()
                            .starts_with(['i', '{', ':', '=']))
                    .then_some(name)
                })
                .collect();
            names.sort();
            names.dedup();
            for name in names {
                let rule = format!("data.{package}.{name}");
                let v = self.eval(&rule, &serde_json::json!({}))?;
                out.push((rule, v == Some(serde_json::Value::Bool(true))));
            }
        }
        Ok(out)
    }

    /// Digest over the names and sources of the loaded modules.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Where the policy came from (file paths, or `bundled:<name>`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Evaluates `rule` (e.g. `data.warden.authz.allow`) over `input`.
    /// Returns `None` when the rule is undefined for this input.
    pub fn eval(
        &mut self,
        rule: &str,
        input: &serde_json::Value,
    ) -> Result<Option<serde_json::Value>, PolicyError> {
        let eval_err = |e: &dyn std::fmt::Display| PolicyError::Eval {
            rule: rule.to_string(),
            message: e.to_string(),
        };
        let input = regorus::Value::from_json_str(&input.to_string()).map_err(|e| eval_err(&e))?;
        self.engine.set_input(input);
        // A query (rather than `eval_rule`) so that a rule the policy does
        // not define comes back as "no result" instead of an error.
        let results = self
            .engine
            .eval_query(rule.to_string(), false)
            .map_err(|e| eval_err(&e))?;
        let Some(v) = results
            .result
            .into_iter()
            .next()
            .and_then(|r| r.expressions.into_iter().next())
            .map(|e| e.value)
        else {
            return Ok(None);
        };
        if v == regorus::Value::Undefined {
            return Ok(None);
        }
        let text = v.to_json_str().map_err(|e| eval_err(&e))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| eval_err(&e))
    }

    /// Evaluates a rule that must be defined.
    pub fn eval_defined(
        &mut self,
        rule: &str,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value, PolicyError> {
        self.eval(rule, input)?
            .ok_or_else(|| PolicyError::Undefined {
                origin: self.origin.clone(),
                rule: rule.to_string(),
            })
    }
}

/// The outcome of an authorisation question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthzDecision {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// The policy's roles that would allow this action (to explain a denial).
    pub allowing_roles: Vec<String>,
}

/// Role-based authorisation: `data.warden.authz.allow`.
#[derive(Clone)]
pub struct Authorizer {
    policy: PolicySet,
}

const ALLOW: &str = "data.warden.authz.allow";
const ROLES: &str = "data.warden.authz.roles";
const ACTIONS: &str = "data.warden.authz.actions";
const READ_ACTIONS: &str = "data.warden.authz.read_actions";
const ROLE_ACTIONS: &str = "data.warden.authz.role_actions";

/// The action names a policy uses (see [`Authorizer::vocabulary`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVocabulary {
    /// `data.warden.authz.actions`: every action the policy decides.
    pub actions: Vec<String>,
    /// Every name or pattern in `read_actions` and `role_actions`.
    pub patterns: Vec<String>,
}

/// Every string in a JSON value: a set's members, a map's values' members.
fn strings_of(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().flat_map(strings_of).collect(),
        serde_json::Value::Object(o) => o.values().flat_map(strings_of).collect(),
        _ => Vec::new(),
    }
}

impl Authorizer {
    /// The bundled default policy.
    pub fn bundled() -> Result<Self, PolicyError> {
        Self::new(PolicySet::from_sources(
            "bundled:authz.rego",
            &[("authz.rego".to_string(), BUNDLED_AUTHZ.to_string())],
        )?)
    }

    /// A user's policy file replacing the bundled one.
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        Self::new(PolicySet::from_files(&[path.to_path_buf()])?)
    }

    fn new(mut policy: PolicySet) -> Result<Self, PolicyError> {
        // Fail at load time, not at the first decision, if the policy lacks
        // the rules Warden asks for.
        let probe = json!({"actor": "probe", "roles": [], "action": "probe"});
        policy.eval_defined(ALLOW, &probe)?;
        let mut a = Authorizer { policy };
        a.roles()?;
        Ok(a)
    }

    /// Digest of the policy sources.
    pub fn digest(&self) -> Digest {
        self.policy.digest()
    }

    /// The roles the policy knows, sorted.
    pub fn roles(&mut self) -> Result<Vec<String>, PolicyError> {
        let v = self.policy.eval_defined(ROLES, &json!({}))?;
        let wrong = |found: &serde_json::Value| PolicyError::WrongType {
            origin: self.policy.origin().to_string(),
            rule: ROLES.to_string(),
            expected: "a set of strings",
            found: found.to_string(),
        };
        let arr = v.as_array().ok_or_else(|| wrong(&v))?;
        let mut roles = arr
            .iter()
            .map(|r| r.as_str().map(str::to_string).ok_or_else(|| wrong(r)))
            .collect::<Result<Vec<_>, _>>()?;
        roles.sort();
        Ok(roles)
    }

    fn allow(
        &mut self,
        actor: &str,
        roles: &[&str],
        action: &str,
        facts: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<bool, PolicyError> {
        // The facts first, so that they cannot replace who acts, with
        // which roles, or what is asked.
        let mut input = facts.clone();
        input.insert("actor".into(), json!(actor));
        input.insert("roles".into(), json!(roles));
        input.insert("action".into(), json!(action));
        let v = self
            .policy
            .eval_defined(ALLOW, &serde_json::Value::Object(input))?;
        v.as_bool().ok_or_else(|| PolicyError::WrongType {
            origin: self.policy.origin().to_string(),
            rule: ALLOW.to_string(),
            expected: "a boolean",
            found: v.to_string(),
        })
    }

    /// May `actor`, holding `roles`, perform `action`?
    pub fn decide(
        &mut self,
        actor: &ActorName,
        roles: &[RoleName],
        action: Action,
    ) -> Result<AuthzDecision, PolicyError> {
        self.decide_with(actor, roles, action, &serde_json::Map::new())
    }

    /// Like [`Authorizer::decide`], with more facts about the request in
    /// the policy's input beside `actor`, `roles` and `action` (which the
    /// facts cannot replace): e.g. `requested_role` for `roles.grant` and
    /// `apikey.create`. The roles that would allow it are found with the
    /// same facts.
    pub fn decide_with(
        &mut self,
        actor: &ActorName,
        roles: &[RoleName],
        action: Action,
        facts: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<AuthzDecision, PolicyError> {
        self.decide_named(actor, roles, action.as_str(), facts)
    }

    /// The decision for an action by name: the policy's own vocabulary,
    /// which may be wider than [`Action`] (tests probe names no engine
    /// action has).
    fn decide_named(
        &mut self,
        actor: &ActorName,
        roles: &[RoleName],
        action: &str,
        facts: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<AuthzDecision, PolicyError> {
        let held: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
        let allowed = self.allow(actor.as_str(), &held, action, facts)?;
        let mut allowing_roles = Vec::new();
        if !allowed {
            for role in self.roles()? {
                if self.allow(actor.as_str(), &[role.as_str()], action, facts)? {
                    allowing_roles.push(role);
                }
            }
        }
        Ok(AuthzDecision {
            allowed,
            allowing_roles,
        })
    }

    /// The actions the policy lists as `data.warden.authz.actions`, and the
    /// action names and patterns (`x.*`, `*`) its `read_actions` and
    /// `role_actions` use; `None` for a policy that defines no `actions`.
    pub fn vocabulary(&mut self) -> Result<Option<PolicyVocabulary>, PolicyError> {
        let Some(actions) = self.policy.eval(ACTIONS, &json!({}))? else {
            return Ok(None);
        };
        let mut patterns = Vec::new();
        for rule in [READ_ACTIONS, ROLE_ACTIONS] {
            if let Some(v) = self.policy.eval(rule, &json!({}))? {
                patterns.extend(strings_of(&v));
            }
        }
        patterns.sort();
        patterns.dedup();
        Ok(Some(PolicyVocabulary {
            actions: strings_of(&actions),
            patterns,
        }))
    }

    /// Runs the bundled policy's Rego tests (`authz_test.rego`):
    /// (rule, passed).
    pub fn bundled_tests() -> Result<Vec<(String, bool)>, PolicyError> {
        let sources = [
            ("authz.rego".to_string(), BUNDLED_AUTHZ.to_string()),
            (
                "authz_test.rego".to_string(),
                BUNDLED_AUTHZ_TESTS.to_string(),
            ),
        ];
        PolicySet::from_sources("bundled:authz", &sources)?.run_tests(&sources)
    }
}

/// A promotion gate: `data.warden.gate.deny` over the policy input document.
#[derive(Clone)]
pub struct Gate {
    set: PolicySet,
    sources: Vec<(String, String)>,
    /// The data document's name and text.
    data: (String, String),
}

/// A gate's sources as read from its files: origin, modules, data.
type GateFiles = (String, Vec<(String, String)>, (String, String));

const DENY: &str = "data.warden.gate.deny";

impl Gate {
    /// The bundled gates with their bundled thresholds.
    pub fn bundled() -> Result<Self, PolicyError> {
        Self::from_sources(
            "bundled:gate",
            vec![
                ("bundled:gate.rego".to_string(), BUNDLED_GATE.to_string()),
                (
                    "bundled:gate_test.rego".to_string(),
                    BUNDLED_GATE_TESTS.to_string(),
                ),
            ],
            ("bundled:gate-data.json", BUNDLED_GATE_DATA),
        )
    }

    /// User policy files (or the bundled gate when empty) and a data file
    /// (or the bundled thresholds).
    pub fn from_files(policies: &[PathBuf], data: Option<&Path>) -> Result<Self, PolicyError> {
        let (origin, sources, data) = Self::read_files(policies, data)?;
        Self::from_sources(&origin, sources, (&data.0, &data.1))
    }

    /// [`Gate::from_files`], reusing the gate in `cache` when the files
    /// still hold exactly what it was compiled from (compiling the Rego is
    /// most of the cost of a decision on a small registry), and leaving the
    /// gate compiled now in `cache` otherwise. The files are read every
    /// time, so an edited policy is what decides next.
    pub fn from_files_reusing(
        policies: &[PathBuf],
        data: Option<&Path>,
        cache: &mut Option<Gate>,
    ) -> Result<Self, PolicyError> {
        let (origin, sources, data) = Self::read_files(policies, data)?;
        if let Some(g) = cache.as_ref()
            && g.sources == sources
            && g.data == data
            && g.origin() == origin
        {
            return Ok(g.clone());
        }
        let mut g = Self::from_sources(&origin, sources, (&data.0, &data.1))?;
        // The engine analyses and schedules the policy at its first
        // evaluation; a clone of an engine that has evaluated once keeps that
        // work, so the cached gate evaluates once here (on an empty input,
        // whatever it answers) and every decision's clone starts prepared.
        let _ = g.deny(&serde_json::json!({}));
        *cache = Some(g.clone());
        Ok(g)
    }

    fn read_files(policies: &[PathBuf], data: Option<&Path>) -> Result<GateFiles, PolicyError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| PolicyError::Read {
                path: p.to_path_buf(),
                source: e,
            })
        };
        let mut sources = Vec::new();
        for p in policies {
            sources.push((p.display().to_string(), read(p)?));
        }
        if sources.is_empty() {
            sources.push(("bundled:gate.rego".to_string(), BUNDLED_GATE.to_string()));
            sources.push((
                "bundled:gate_test.rego".to_string(),
                BUNDLED_GATE_TESTS.to_string(),
            ));
        }
        let origin = sources
            .iter()
            .map(|s| s.0.clone())
            .collect::<Vec<_>>()
            .join(", ");
        let data = match data {
            Some(p) => (p.display().to_string(), read(p)?),
            None => (
                "bundled:gate-data.json".to_string(),
                BUNDLED_GATE_DATA.to_string(),
            ),
        };
        Ok((origin, sources, data))
    }

    fn from_sources(
        origin: &str,
        sources: Vec<(String, String)>,
        data: (&str, &str),
    ) -> Result<Self, PolicyError> {
        let mut set = PolicySet::from_sources(origin, &sources)?;
        set.add_data(data.0, data.1)?;
        Ok(Gate {
            set,
            sources,
            data: (data.0.to_string(), data.1.to_string()),
        })
    }

    /// Digest of the policy bundle (sources and data).
    pub fn digest(&self) -> Digest {
        self.set.digest()
    }

    /// Where the policy came from (a path, or `bundled:…`).
    pub fn origin(&self) -> &str {
        self.set.origin()
    }

    /// Every reason to deny `input` (empty: allowed), sorted.
    pub fn deny(&mut self, input: &serde_json::Value) -> Result<Vec<String>, PolicyError> {
        let v = self.set.eval_defined(DENY, input)?;
        let serde_json::Value::Array(items) = v else {
            return Err(PolicyError::WrongType {
                origin: self.set.origin().to_string(),
                rule: DENY.into(),
                expected: "a set of messages",
                found: v.to_string(),
            });
        };
        let mut out: Vec<String> = items
            .into_iter()
            .map(|m| match m {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Runs the loaded modules' `test_*` rules.
    pub fn run_tests(&mut self) -> Result<Vec<(String, bool)>, PolicyError> {
        let sources = self.sources.clone();
        self.set.run_tests(&sources)
    }
}

/// One response the monitoring policy asks for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct MonitorDecision {
    /// `alert`, `throttle`, `block`, `rollback` or `quarantine`.
    pub action: String,
    /// The API key the response is about (`throttle`, `block`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Why, in words, for the log and the alert.
    pub reason: String,
}

/// The actions a monitoring decision may name.
pub const MONITOR_ACTIONS: [&str; 5] = ["alert", "throttle", "block", "rollback", "quarantine"];

/// The monitoring response policy: `data.warden.monitor.decisions` over a
/// window result or an abuse signal.
pub struct MonitorPolicy {
    set: PolicySet,
    sources: Vec<(String, String)>,
}

const DECISIONS: &str = "data.warden.monitor.decisions";

impl MonitorPolicy {
    /// The bundled policy (and its tests).
    pub fn bundled() -> Result<Self, PolicyError> {
        let sources = vec![
            (
                "bundled:monitor.rego".to_string(),
                BUNDLED_MONITOR.to_string(),
            ),
            (
                "bundled:monitor_test.rego".to_string(),
                BUNDLED_MONITOR_TESTS.to_string(),
            ),
        ];
        Ok(MonitorPolicy {
            set: PolicySet::from_sources("bundled:monitor", &sources)?,
            sources,
        })
    }

    /// A policy file in place of the bundled one.
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        let sources = vec![(path.display().to_string(), text)];
        Ok(MonitorPolicy {
            set: PolicySet::from_sources(&path.display().to_string(), &sources)?,
            sources,
        })
    }

    /// Digest of the policy's sources.
    pub fn digest(&self) -> Digest {
        self.set.digest()
    }

    /// Where the policy came from (a path, or `bundled:…`).
    pub fn origin(&self) -> &str {
        self.set.origin()
    }

    /// The decisions for `input`, sorted; an undefined rule is no decision.
    /// A decision naming an unknown action, or a throttle or block without
    /// a key, is an error: the policy is wrong, and guessing is worse.
    pub fn decide(
        &mut self,
        input: &serde_json::Value,
    ) -> Result<Vec<MonitorDecision>, PolicyError> {
        let v = self.set.eval(DECISIONS, input)?;
        let wrong = |found: String| PolicyError::WrongType {
            origin: self.set.origin().to_string(),
            rule: DECISIONS.into(),
            expected: "a set of {action, reason[, key]} objects",
            found,
        };
        let items = match v {
            None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
            Some(serde_json::Value::Array(items)) => items,
            Some(other) => return Err(wrong(other.to_string())),
        };
        let mut out = Vec::new();
        for item in items {
            let d: MonitorDecision =
                serde_json::from_value(item.clone()).map_err(|_| wrong(item.to_string()))?;
            let needs_key = d.action == "throttle" || d.action == "block";
            if !MONITOR_ACTIONS.contains(&d.action.as_str()) || (needs_key && d.key.is_none()) {
                return Err(wrong(item.to_string()));
            }
            out.push(d);
        }
        out.sort();
        Ok(out)
    }

    /// Runs the loaded modules' `test_*` rules.
    pub fn run_tests(&mut self) -> Result<Vec<(String, bool)>, PolicyError> {
        let sources = self.sources.clone();
        self.set.run_tests(&sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_gate_is_the_one_its_files_hold_now() {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("gate.rego");
        let write = |body: &str| {
            std::fs::write(
                &policy,
                format!(
                    "package warden.gate\nimport rego.v1\ndeny contains msg if {{\n{body}\n}}\n"
                ),
            )
            .unwrap()
        };
        write("input.env == \"prod\"\nmsg := \"no prod\"");
        let files = [policy.clone()];
        let mut cache = None;
        let input = serde_json::json!({"env": "prod"});
        let mut first = Gate::from_files_reusing(&files, None, &mut cache).unwrap();
        assert_eq!(first.deny(&input).unwrap(), ["no prod"]);
        // Unchanged files: the compiled gate is reused, the same bundle.
        let mut again = Gate::from_files_reusing(&files, None, &mut cache).unwrap();
        assert_eq!(again.digest(), first.digest());
        assert_eq!(again.deny(&input).unwrap(), ["no prod"]);
        // A reused gate answers each input as a fresh one does, whatever it
        // answered before (nothing of one evaluation leaks into the next).
        let mut fresh = Gate::from_files(&files, None).unwrap();
        for i in [
            serde_json::json!({"env": "dev"}),
            input.clone(),
            serde_json::json!({}),
            serde_json::json!({"env": "dev"}),
        ] {
            let mut reused = Gate::from_files_reusing(&files, None, &mut cache).unwrap();
            assert_eq!(reused.deny(&i).unwrap(), fresh.deny(&i).unwrap(), "{i}");
        }
        // An edited policy decides at once, under its own digest.
        write("input.env == \"prod\"\nmsg := \"still no prod\"");
        let mut edited = Gate::from_files_reusing(&files, None, &mut cache).unwrap();
        assert_ne!(edited.digest(), first.digest());
        assert_eq!(edited.deny(&input).unwrap(), ["still no prod"]);
        assert_eq!(
            edited.digest(),
            Gate::from_files(&files, None).unwrap().digest()
        );
    }

    #[test]
    fn bundled_monitor_policy_passes_its_tests_and_decides() {
        let mut p = MonitorPolicy::bundled().unwrap();
        let results = p.run_tests().unwrap();
        assert!(results.len() >= 7, "{results:?}");
        for (name, ok) in &results {
            assert!(ok, "{name} failed");
        }
        let input = serde_json::json!({
            "kind": "signal", "model": "m", "version": 1, "env": "production",
            "signal": {"key": "k", "name": "extraction", "value": 0.9, "threshold": 0.5, "consecutive": 3},
        });
        let d = p.decide(&input).unwrap();
        assert_eq!(
            d.iter().map(|x| x.action.as_str()).collect::<Vec<_>>(),
            vec!["alert", "block"]
        );
        assert_eq!(d[1].key.as_deref(), Some("k"));
    }

    fn role(r: &str) -> RoleName {
        RoleName::new(r).unwrap()
    }

    #[test]
    fn bundled_roles_and_decisions() {
        let mut a = Authorizer::bundled().unwrap();
        assert_eq!(
            a.roles().unwrap(),
            [
                "admin",
                "approver",
                "auditor",
                "data-engineer",
                "ml-engineer",
                "monitor",
                "operator",
                "predictor"
            ]
        );
        // An API key's role: inference, and nothing else.
        let yes_p = |a: &mut Authorizer, action| {
            a.decide_named(
                &ActorName::new("key").unwrap(),
                &[role("predictor")],
                action,
                &serde_json::Map::new(),
            )
            .unwrap()
            .allowed
        };
        assert!(yes_p(&mut a, "serve.predict"));
        assert!(!yes_p(&mut a, "model.promote"));
        assert!(!yes_p(&mut a, "apikey.create"));
        // Not even the registry or the log.
        for read in [
            "model.read",
            "audit.read",
            "data.read",
            "keys.list",
            "roles.list",
        ] {
            assert!(!yes_p(&mut a, read), "{read}");
        }
        let ana = ActorName::new("ana").unwrap();
        let yes = |a: &mut Authorizer, roles: &[RoleName], action| {
            a.decide_named(&ana, roles, action, &serde_json::Map::new())
                .unwrap()
                .allowed
        };
        assert!(yes(&mut a, &[role("admin")], "keys.generate"));
        assert!(yes(&mut a, &[role("admin")], "anything.at.all"));
        assert!(!yes(&mut a, &[], "audit.read"));
        assert!(yes(&mut a, &[role("auditor")], "audit.verify"));
        assert!(!yes(&mut a, &[role("auditor")], "keys.generate"));
        assert!(yes(&mut a, &[role("data-engineer")], "data.ingest"));
        assert!(!yes(&mut a, &[role("data-engineer")], "model.train"));
        assert!(yes(&mut a, &[role("ml-engineer")], "model.train"));
        assert!(yes(&mut a, &[role("approver")], "model.approve"));
        assert!(!yes(&mut a, &[role("approver")], "model.promote"));
        // "data.*" must not match "database.drop".
        assert!(!yes(&mut a, &[role("data-engineer")], "database.drop"));
        // A role the policy does not know grants nothing.
        assert!(!yes(&mut a, &[role("superuser")], "roles.list"));

        let d = a
            .decide(&ana, &[role("auditor")], Action::ModelApprove)
            .unwrap();
        assert_eq!(d.allowing_roles, ["admin", "approver"]);

        // The server's monitor acts, and reads nothing.
        let mon = |a: &mut Authorizer, action| yes(a, &[role("monitor")], action);
        assert!(mon(&mut a, "monitor.record"));
        assert!(mon(&mut a, "model.rollback"));
        assert!(mon(&mut a, "apikey.hold"));
        assert!(!mon(&mut a, "model.read"));
        assert!(!mon(&mut a, "audit.read"));
    }

    /// The bundled policy's `actions` and the engine's [`Action`] enum are
    /// the same set, and every name or pattern the policy grants matches
    /// at least one action (a typo such as `modle.read` would match none).
    #[test]
    fn bundled_policy_and_action_enum_agree_both_ways() {
        let mut a = Authorizer::bundled().unwrap();
        let v = a
            .vocabulary()
            .unwrap()
            .expect("the bundled policy lists its actions");
        let policy: std::collections::BTreeSet<&str> =
            v.actions.iter().map(String::as_str).collect();
        let engine: std::collections::BTreeSet<&str> =
            Action::ALL.iter().map(|a| a.as_str()).collect();
        let only_policy: Vec<_> = policy.difference(&engine).collect();
        let only_engine: Vec<_> = engine.difference(&policy).collect();
        assert!(
            only_policy.is_empty(),
            "in the policy, not in Action: {only_policy:?}"
        );
        assert!(
            only_engine.is_empty(),
            "in Action, not in the policy: {only_engine:?}"
        );
        assert!(v.patterns.len() > 10, "{:?}", v.patterns);
        for p in &v.patterns {
            assert!(
                Action::ALL.iter().any(|a| a.matched_by(p)),
                "the policy grants {p:?}, which matches no action"
            );
        }
        // Every action is decided by some role other than admin's "*" or
        // is deliberately admin-only; either way admin may do it.
        let ana = ActorName::new("ana").unwrap();
        for act in Action::ALL {
            let mut facts = serde_json::Map::new();
            facts.insert("requested_role".into(), json!("predictor"));
            assert!(
                a.decide_with(&ana, &[role("admin")], *act, &facts)
                    .unwrap()
                    .allowed,
                "{act}"
            );
        }
    }

    #[test]
    fn bundled_policy_passes_its_tests() {
        let results = Authorizer::bundled_tests().unwrap();
        assert!(results.len() >= 10, "{results:?}");
        for (name, ok) in &results {
            assert!(ok, "{name} failed");
        }
    }

    #[test]
    fn no_one_hands_out_a_role_beyond_their_own() {
        let mut a = Authorizer::bundled().unwrap();
        let omar = ActorName::new("omar").unwrap();
        let ask = |a: &mut Authorizer, held: &str, action: &str, requested: &str| {
            let mut facts = serde_json::Map::new();
            facts.insert("requested_role".into(), json!(requested));
            a.decide_named(&omar, &[role(held)], action, &facts)
                .unwrap()
        };
        // The attack: an operator mints an admin key.
        let d = ask(&mut a, "operator", "apikey.create", "admin");
        assert!(!d.allowed);
        assert_eq!(d.allowing_roles, ["admin"]);
        assert!(!ask(&mut a, "operator", "apikey.create", "auditor").allowed);
        // Within its own role, it may.
        assert!(ask(&mut a, "operator", "apikey.create", "operator").allowed);
        assert!(ask(&mut a, "operator", "apikey.create", "predictor").allowed);
        for r in a.roles().unwrap() {
            assert!(ask(&mut a, "admin", "roles.grant", &r).allowed, "{r}");
            assert!(ask(&mut a, "admin", "apikey.create", &r).allowed, "{r}");
        }
        // Without the fact, a delegating action is refused.
        assert!(
            !a.decide(&omar, &[role("admin")], Action::ApikeyCreate)
                .unwrap()
                .allowed
        );
        // Facts cannot replace the actor's roles or the action.
        let mut facts = serde_json::Map::new();
        facts.insert("roles".into(), json!(["admin"]));
        facts.insert("action".into(), json!("serve.predict"));
        facts.insert("requested_role".into(), json!("admin"));
        assert!(
            !a.decide_with(&omar, &[role("operator")], Action::ApikeyCreate, &facts)
                .unwrap()
                .allowed
        );
    }

    #[test]
    fn user_policy_errors_are_clear() {
        let dir = std::env::temp_dir().join(format!("warden-policy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.rego");
        std::fs::write(
            &bad,
            "package warden.authz\n\nallow if {\n  input.x ==\n}\n",
        )
        .unwrap();
        let err = Authorizer::from_file(&bad).err().unwrap().to_string();
        assert!(err.contains("bad.rego:"), "{err}");

        let no_allow = dir.join("no_allow.rego");
        std::fs::write(&no_allow, "package warden.authz\n\nroles := {\"admin\"}\n").unwrap();
        let err = Authorizer::from_file(&no_allow).err().unwrap().to_string();
        assert!(
            err.contains("does not define `data.warden.authz.allow`"),
            "{err}"
        );

        let custom = dir.join("custom.rego");
        std::fs::write(
            &custom,
            "package warden.authz\n\nroles := {\"admin\", \"reader\"}\ndefault allow := false\nallow if \"admin\" in input.roles\nallow if { \"reader\" in input.roles; input.action == \"audit.read\" }\n",
        )
        .unwrap();
        let mut a = Authorizer::from_file(&custom).unwrap();
        let bob = ActorName::new("bob").unwrap();
        assert!(
            a.decide(&bob, &[role("reader")], Action::AuditRead)
                .unwrap()
                .allowed
        );
        assert!(
            !a.decide(&bob, &[role("reader")], Action::KeysList)
                .unwrap()
                .allowed
        );
        assert_ne!(a.digest(), Authorizer::bundled().unwrap().digest());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
