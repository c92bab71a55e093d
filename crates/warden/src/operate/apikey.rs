//! API keys for the serving endpoints.
//!
//! A key is `wdn_<id>_<secret>`: `id` (12 hex digits) finds the record, and
//! the whole key is checked against an HMAC-SHA256 under the workspace's
//! API-key secret (`.warden/keys/apikey.key`, 0600), compared in constant
//! time. Only that keyed hash is stored; the key itself is shown once, at
//! creation. A key carries one role, which the authorisation policy turns
//! into permissions like any actor's roles.

use std::collections::HashMap;

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use warden_core::{Action, ActorName, KeyName, Timestamp};
use warden_store::ApiKeyRecord;
use zeroize::Zeroizing;

use crate::events;
use crate::{Error, Workspace};

const SECRET_FILE: &str = "apikey.key";
/// Every API key starts with this.
pub const API_KEY_PREFIX: &str = "wdn_";
pub(crate) type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A key just created: the record, and the key itself (shown once).
pub struct ApiKeyCreated {
    /// The stored record: name, id, role, expiry, and the key's keyed hash.
    pub record: ApiKeyRecord,
    /// The key, `wdn_<id>_<secret>`: shown once, never stored.
    pub key: Zeroizing<String>,
}

/// Why a presented key is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyRejection {
    /// Not shaped like `wdn_<id>_<secret>`.
    Malformed,
    /// No key has that id, or the secret does not match (the two are not
    /// told apart).
    Unknown,
    /// The key was revoked.
    Revoked,
    /// The key's expiry has passed.
    Expired,
    /// Blocked (by an operator or the monitor) until someone lifts it.
    Blocked,
}

impl KeyRejection {
    /// The rejection's name: `malformed`, `unknown`, `revoked`, `expired`
    /// or `blocked`.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyRejection::Malformed => "malformed",
            KeyRejection::Unknown => "unknown",
            KeyRejection::Revoked => "revoked",
            KeyRejection::Expired => "expired",
            KeyRejection::Blocked => "blocked",
        }
    }

    /// The rejection named by [`KeyRejection::as_str`].
    pub fn from_name(s: &str) -> Option<KeyRejection> {
        Some(match s {
            "malformed" => KeyRejection::Malformed,
            "unknown" => KeyRejection::Unknown,
            "revoked" => KeyRejection::Revoked,
            "expired" => KeyRejection::Expired,
            "blocked" => KeyRejection::Blocked,
            _ => return None,
        })
    }
}

/// Everything needed to check keys without the store: the records and the
/// secret (for the server, which checks a key on every request).
pub struct ApiKeyVerifier {
    /// The HMAC keyed with the workspace secret, ready to clone per check.
    mac: HmacSha256,
    /// Records by key id, with their stored hash decoded.
    keys: HashMap<String, (ApiKeyRecord, Vec<u8>)>,
    /// Ids of blocked keys.
    blocked: std::collections::HashSet<String>,
    /// Rows refused because they disagree with the log.
    refused: Vec<String>,
}

impl ApiKeyVerifier {
    /// Ids of the keys blocked now.
    pub fn blocked_ids(&self) -> impl Iterator<Item = &str> {
        self.blocked.iter().map(String::as_str)
    }

    /// The record of a valid key.
    pub fn verify(&self, presented: &str, now: &Timestamp) -> Result<&ApiKeyRecord, KeyRejection> {
        let id = parse_id(presented, API_KEY_PREFIX).ok_or(KeyRejection::Malformed)?;
        let (rec, expected) = self.keys.get(id).ok_or(KeyRejection::Unknown)?;
        let mut mac = self.mac.clone();
        mac.update(presented.as_bytes());
        mac.verify_slice(expected)
            .map_err(|_| KeyRejection::Unknown)?;
        if rec.revoked_at.is_some() {
            return Err(KeyRejection::Revoked);
        }
        if rec.expires_at.as_ref().is_some_and(|e| e <= now) {
            return Err(KeyRejection::Expired);
        }
        if self.blocked.contains(id) {
            return Err(KeyRejection::Blocked);
        }
        Ok(rec)
    }

    /// API key rows (and holds) that disagree with the audit log: refused
    /// keys match nothing, a hold the log placed blocks its key.
    pub fn refused(&self) -> &[String] {
        &self.refused
    }

    /// Every key's record (revoked ones included).
    pub fn records(&self) -> impl Iterator<Item = &ApiKeyRecord> {
        self.keys.values().map(|(r, _)| r)
    }

    /// How many keys (revoked ones included) the verifier knows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the verifier knows no key at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The id of a credential `PREFIX<id>_<secret>` (12 hex digits, then 43
/// base64url characters), or `None` if it is not shaped so.
/// The id of a presented API key (`wdn_<id>_<secret>`), if it is shaped
/// like one.
pub fn api_key_id(presented: &str) -> Option<&str> {
    parse_id(presented, API_KEY_PREFIX)
}

pub(crate) fn parse_id<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    let rest = key.strip_prefix(prefix)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() == 43)
        .then_some(id)
}

/// Parses `--expires`: an RFC 3339 time, or a duration from now (`90d`, `12h`, `30m`).
pub fn parse_expiry(s: &str, now: &Timestamp) -> Result<Timestamp, Error> {
    if let Some(t) = Timestamp::parse(s) {
        return Ok(t);
    }
    // The unit is the last character, whatever its width: splitting at a
    // byte offset would cut a multi-byte character in two.
    let unit_len = s.chars().last().map_or(0, char::len_utf8);
    let (num, unit) = s.split_at(s.len() - unit_len);
    let n: i64 = num.parse().map_err(|_| {
        Error::Usage(format!(
            "--expires {s}: an RFC 3339 time or a duration like 90d, 12h, 30m"
        ))
    })?;
    let secs = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3_600),
        "m" => n.checked_mul(60),
        _ => None,
    };
    secs.filter(|s| *s > 0)
        .and_then(|s| now.plus_seconds(s))
        .ok_or_else(|| {
            Error::Usage(format!(
                "--expires {s}: an RFC 3339 time or a positive duration like 90d, 12h, 30m"
            ))
        })
}

impl Workspace {
    /// A new credential `PREFIX<id>_<secret>` (48 random bits of id, 256 of
    /// secret): its id, the credential itself (shown once), and the hex
    /// HMAC-SHA256 of it under the workspace's API-key secret, which is all
    /// that is stored. API keys and personal access tokens are made here.
    pub(crate) fn mint_credential(
        &self,
        prefix: &str,
    ) -> Result<(String, Zeroizing<String>, String), Error> {
        let mut id = [0u8; 6];
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut id).map_err(|e| Error::Invalid(format!("no randomness: {e}")))?;
        getrandom::fill(secret.as_mut())
            .map_err(|e| Error::Invalid(format!("no randomness: {e}")))?;
        let id = hex::encode(id);
        let credential = Zeroizing::new(format!(
            "{prefix}{id}_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret.as_ref())
        ));
        let mut mac = self.credential_mac()?;
        mac.update(credential.as_bytes());
        Ok((id, credential, hex::encode(mac.finalize().into_bytes())))
    }

    /// The HMAC keyed with the workspace's API-key secret, ready to check
    /// or make a credential's stored hash.
    pub(crate) fn credential_mac(&self) -> Result<HmacSha256, Error> {
        HmacSha256::new_from_slice(&self.apikey_secret()?)
            .map_err(|e| Error::Invalid(format!("API-key secret: {e}")))
    }

    fn apikey_secret(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let path = self.state_dir().join("keys").join(SECRET_FILE);
        let (key, _) = crate::data::read_or_create_secret(&path)?;
        Ok(Zeroizing::new(key))
    }

    /// Creates an API key with a role; the key is in the result, once.
    pub fn apikey_create(
        &self,
        name: &str,
        role: &str,
        expires: Option<Timestamp>,
        rate_limit: Option<f64>,
    ) -> Result<ApiKeyCreated, Error> {
        if !self.known_roles()?.iter().any(|r| r == role) {
            return Err(Error::Usage(format!(
                "role {role:?} is not one the authorisation policy knows ({})",
                self.known_roles()?.join(", ")
            )));
        }
        // The policy sees the key's role: no one issues a key stronger
        // than their own roles.
        self.authorize_with(
            Action::ApikeyCreate,
            &format!("apikey:{name}"),
            &crate::roles::requested_role(role),
        )?;
        let name = KeyName::new(name).map_err(|e| Error::Usage(format!("API key name: {e}")))?;
        if let Some(r) = rate_limit
            && !(r.is_finite() && r > 0.0)
        {
            return Err(Error::Usage(format!(
                "--rate-limit {r}: a positive number of requests per second"
            )));
        }
        let now = Timestamp::now();
        if let Some(e) = &expires
            && e <= &now
        {
            return Err(Error::Usage(format!("--expires {e} is in the past")));
        }
        if self
            .store()
            .read()?
            .api_keys()?
            .iter()
            .any(|k| k.name == name.as_str())
        {
            return Err(Error::Usage(format!(
                "an API key named {name} exists (names are never reused; pick another)"
            )));
        }
        let (id, key, key_hash) = self.mint_credential(API_KEY_PREFIX)?;
        let record = ApiKeyRecord {
            id: id.clone(),
            name: name.to_string(),
            role: role.to_string(),
            key_hash,
            rate_limit,
            created_by: self.actor().clone(),
            created_at: now,
            expires_at: expires,
            revoked_by: None,
            revoked_at: None,
        };
        let mut tx = self.store().write()?;
        tx.save_api_key(&record)?;
        events::append(
            &mut *tx,
            self.actor(),
            "apikey.create",
            &format!("apikey:{name}"),
            &events::ApiKeyCreated {
                name: record.name.clone(),
                id: id.to_string(),
                role: role.to_string(),
                expires_at: record.expires_at.as_ref().map(ToString::to_string),
                rate_limit,
                key_hash_digest: Some(crate::ledger::key_hash_digest(&record.key_hash)),
            },
        )?;
        self.commit(tx)?;
        Ok(ApiKeyCreated { record, key })
    }

    /// Every API key (never the key or its hash).
    pub fn apikey_list(&self) -> Result<Vec<ApiKeyRecord>, Error> {
        self.authorize(Action::ApikeyList, "apikey:*")?;
        Ok(self.store().read()?.api_keys()?)
    }

    /// The record of the API key called `name`.
    pub(crate) fn api_key_named(&self, name: &str) -> Result<ApiKeyRecord, Error> {
        self.store()
            .read()?
            .api_keys()?
            .into_iter()
            .find(|k| k.name == name)
            .ok_or_else(|| Error::Usage(format!("no API key named {name}")))
    }

    /// Revokes a key by name.
    pub fn apikey_revoke(&self, name: &str) -> Result<ApiKeyRecord, Error> {
        self.authorize(Action::ApikeyRevoke, &format!("apikey:{name}"))?;
        let mut rec = self.api_key_named(name)?;
        if rec.revoked_at.is_some() {
            return Err(Error::Usage(format!("API key {name} is already revoked")));
        }
        rec.revoked_by = Some(self.actor().clone());
        rec.revoked_at = Some(Timestamp::now());
        let mut tx = self.store().write()?;
        tx.save_api_key(&rec)?;
        events::append(
            &mut *tx,
            self.actor(),
            "apikey.revoke",
            &format!("apikey:{name}"),
            &events::ApiKeyNamed {
                id: rec.id.clone(),
                name: Some(name.to_string()),
            },
        )?;
        self.commit(tx)?;
        Ok(rec)
    }

    /// The keys and secret for checking keys on every request.
    /// A throttled key carries its throttle as its rate limit.
    pub fn apikey_verifier(&self) -> Result<ApiKeyVerifier, Error> {
        let mut read = self.store().read()?;
        // Keys and holds must be what the log made them: a key row that
        // disagrees (inserted, un-revoked, re-roled by SQL) matches nothing,
        // and a hold the log placed stands even if its row was deleted.
        let st = crate::ledger::LogState::replay_only(
            read.as_mut(),
            &[
                "apikey.create",
                "apikey.revoke",
                "apikey.block",
                "apikey.throttle",
                "apikey.unblock",
            ],
        )?;
        let mut refused = Vec::new();
        let mut holds = read.key_holds()?;
        for (id, (kind, _)) in &st.holds {
            if !holds.iter().any(|h| &h.key_id == id) {
                refused.push(format!(
                    "hold on API key {id}: the row is missing; the log holds it ({kind})"
                ));
                holds.push(warden_store::KeyHoldRecord {
                    key_id: id.clone(),
                    kind: "block".into(),
                    rate_limit: None,
                    reason: "held by the log".into(),
                    held_by: self.actor().clone(),
                    held_at: Timestamp::now(),
                });
            }
        }
        let mut blocked = std::collections::HashSet::new();
        let mut throttled = HashMap::new();
        for h in holds {
            match (h.kind.as_str(), h.rate_limit) {
                ("throttle", Some(r)) => {
                    throttled.insert(h.key_id, r);
                }
                // Anything else that holds a key keeps it out.
                _ => {
                    blocked.insert(h.key_id);
                }
            }
        }
        let keys = read
            .api_keys()?
            .into_iter()
            .filter(|k| match crate::ledger::api_key_disagreement(&st, k) {
                Some(d) => {
                    refused.push(format!("{}: {}", d.row, d.detail));
                    false
                }
                None => true,
            })
            // A stored hash that does not decode matches no key.
            .filter_map(|mut k| {
                let hash = hex::decode(&k.key_hash).ok()?;
                if let Some(r) = throttled.get(&k.id) {
                    k.rate_limit = Some(k.rate_limit.map_or(*r, |own| own.min(*r)));
                }
                Some((k.id.clone(), (k, hash)))
            })
            .collect();
        drop(read);
        let mac = self.credential_mac()?;
        Ok(ApiKeyVerifier {
            mac,
            keys,
            blocked,
            refused,
        })
    }

    /// Whether `roles` may perform `action` under the authorisation policy
    /// (for callers that are not workspace actors, such as API keys).
    pub fn policy_allows(
        &self,
        actor: &str,
        roles: &[String],
        action: Action,
    ) -> Result<bool, Error> {
        if !self.authz_in_force()? {
            let digest = self.authz_lock().digest().to_string();
            self.check_pinned(crate::pinning::AUTHZ_SCOPE, &digest)?;
        }
        let actor = ActorName::new(actor).map_err(|e| Error::Usage(format!("actor: {e}")))?;
        let roles: Vec<warden_core::RoleName> = roles
            .iter()
            .filter_map(|r| warden_core::RoleName::new(r).ok())
            .collect();
        let mut authz = self.authz_lock();
        Ok(authz.decide(&actor, &roles, action)?.allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_parsed_strictly() {
        let k = format!("wdn_0123456789ab_{}", "A".repeat(43));
        assert_eq!(parse_id(&k, "wdn_"), Some("0123456789ab"));
        assert_eq!(parse_id("wdn_0123456789ab_short", "wdn_"), None);
        assert_eq!(
            parse_id(&format!("xyz_0123456789ab_{}", "A".repeat(43)), "wdn_"),
            None
        );
        assert_eq!(
            parse_id(&format!("wdn_0123456789zz_{}", "A".repeat(43)), "wdn_"),
            None
        );
        // A personal access token is not an API key, and the other way round.
        assert_eq!(parse_id(&k, "wdp_"), None);
    }

    proptest::proptest! {
        /// Whatever text `--expires` or a request carries, parsing it
        /// answers (a time or an error) and never panics.
        #[test]
        fn expiry_parsing_never_panics(s in "\\PC{0,16}") {
            let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
            let _ = parse_expiry(&s, &now);
        }
    }

    #[test]
    fn expiry_durations() {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(
            parse_expiry("2d", &now).unwrap().as_str(),
            "2026-01-03T00:00:00.000000Z"
        );
        assert_eq!(
            parse_expiry("90m", &now).unwrap().as_str(),
            "2026-01-01T01:30:00.000000Z"
        );
        assert!(parse_expiry("-1d", &now).is_err());
        assert!(parse_expiry("soon", &now).is_err());
        // Text that ends in a multi-byte character is refused, not a panic.
        for odd in ["9\u{26432}É\u{7f}á®", "3é", "é", "", "d"] {
            assert!(parse_expiry(odd, &now).is_err(), "{odd:?}");
        }
        assert_eq!(
            parse_expiry("2027-01-01T00:00:00Z", &now).unwrap().as_str(),
            "2027-01-01T00:00:00.000000Z"
        );
    }
}
