//! Personal access tokens for the hub.
//!
//! A token is `wdp_<id>_<secret>` (`id`: 12 hex digits, the secret 256
//! random bits): it acts as its owner, with at most the roles it was
//! scoped to and never more than the owner holds when it is used (the
//! engine intersects the two at every decision). It expires (at most a
//! year out), can be revoked, and records when it was last used. Only an
//! HMAC-SHA256 of the token under the workspace's API-key secret is
//! stored; the token is shown once, at creation. A token row must agree
//! with the `token.create` and `token.revoke` events that made it, or it
//! matches nothing.

use std::collections::HashMap;

use hmac::Mac;
use warden_core::{Action, KeyName, RoleName, Timestamp};
use warden_store::AccessTokenRecord;
use zeroize::Zeroizing;

use crate::events;
use crate::{Error, KeyRejection, Workspace};

/// Every personal access token starts with this.
pub const TOKEN_PREFIX: &str = "wdp_";
/// A token lives at most this long.
const MAX_LIFETIME_SECONDS: i64 = 366 * 86_400;
const CREATE: &str = "token.create";
const REVOKE: &str = "token.revoke";
use crate::apikey::HmacSha256;

/// A token just created: the record, and the token itself (shown once).
pub struct TokenCreated {
    /// The stored record: name, id, owner, roles, expiry, and the token's
    /// keyed hash.
    pub record: AccessTokenRecord,
    /// The token, `wdp_<id>_<secret>`: shown once, never stored.
    pub token: Zeroizing<String>,
}

/// Checks presented tokens without the store (for the hub, which checks
/// one on every request and re-reads the rows every few seconds).
pub struct TokenVerifier {
    mac: HmacSha256,
    tokens: HashMap<String, (AccessTokenRecord, Vec<u8>)>,
    refused: Vec<String>,
}

impl TokenVerifier {
    /// The record of a valid token.
    pub fn verify(
        &self,
        presented: &str,
        now: &Timestamp,
    ) -> Result<&AccessTokenRecord, KeyRejection> {
        let id = crate::apikey::parse_id(presented, TOKEN_PREFIX).ok_or(KeyRejection::Malformed)?;
        let (rec, expected) = self.tokens.get(id).ok_or(KeyRejection::Unknown)?;
        let mut mac = self.mac.clone();
        mac.update(presented.as_bytes());
        mac.verify_slice(expected)
            .map_err(|_| KeyRejection::Unknown)?;
        if rec.revoked_at.is_some() {
            return Err(KeyRejection::Revoked);
        }
        if &rec.expires_at <= now {
            return Err(KeyRejection::Expired);
        }
        Ok(rec)
    }

    /// Token rows that disagree with the log (they match nothing).
    pub fn refused(&self) -> &[String] {
        &self.refused
    }
}

/// What the log says a token is: owner, name, roles, hash digest, revoked.
#[derive(PartialEq, Eq, Debug)]
struct Logged {
    owner: String,
    name: String,
    roles: Vec<String>,
    hash_digest: String,
    expires_at: String,
    revoked: bool,
}

impl Workspace {
    /// Creates a personal access token for the acting principal, scoped to
    /// `roles` (each one the principal holds now), expiring at `expires`.
    pub fn token_create(
        &self,
        name: &str,
        roles: &[RoleName],
        expires: Timestamp,
    ) -> Result<TokenCreated, Error> {
        self.authorize(Action::TokenCreate, &format!("token:{name}"))?;
        let name = KeyName::new(name).map_err(|e| Error::Usage(format!("token name: {e}")))?;
        if roles.is_empty() {
            return Err(Error::Usage(
                "a token needs at least one role (--role)".into(),
            ));
        }
        let held = self.effective_roles()?;
        if let Some(r) = roles.iter().find(|r| !held.contains(r)) {
            return Err(Error::Usage(format!(
                "you do not hold role {r}: a token carries only roles its owner holds"
            )));
        }
        let now = Timestamp::now();
        if expires <= now {
            return Err(Error::Usage(format!("--expires {expires} is in the past")));
        }
        if now
            .plus_seconds(MAX_LIFETIME_SECONDS)
            .is_none_or(|limit| expires > limit)
        {
            return Err(Error::Usage(
                "a token lives at most 366 days; pick an earlier --expires".into(),
            ));
        }
        let owner = self.actor().clone();
        if self
            .store()
            .read()?
            .access_tokens()?
            .iter()
            .any(|t| t.owner == owner && t.name == name.as_str())
        {
            return Err(Error::Conflict(format!(
                "you have a token named {name} (names are never reused; pick another)"
            )));
        }
        let (id, token, token_hash) = self.mint_credential(TOKEN_PREFIX)?;
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let record = AccessTokenRecord {
            id: id.clone(),
            name: name.to_string(),
            owner: owner.clone(),
            roles,
            token_hash,
            created_at: now,
            expires_at: expires,
            revoked_by: None,
            revoked_at: None,
            last_used_at: None,
        };
        let mut tx = self.store().write()?;
        tx.save_access_token(&record)?;
        events::append(
            &mut *tx,
            &owner,
            CREATE,
            &format!("token:{owner}/{name}"),
            &events::TokenCreated {
                id: id.to_string(),
                name: record.name.clone(),
                owner: owner.to_string(),
                roles: record.roles.iter().map(ToString::to_string).collect(),
                expires_at: record.expires_at.to_string(),
                token_hash_digest: crate::ledger::key_hash_digest(&record.token_hash),
            },
        )?;
        self.commit(tx)?;
        Ok(TokenCreated { record, token })
    }

    /// The acting principal's own tokens (never the token or its hash).
    pub fn token_list(&self) -> Result<Vec<AccessTokenRecord>, Error> {
        self.authorize(Action::TokenList, "token:*")?;
        let me = self.actor();
        Ok(self
            .store()
            .read()?
            .access_tokens()?
            .into_iter()
            .filter(|t| &t.owner == me)
            .collect())
    }

    /// Revokes one of the acting principal's own tokens, by name.
    pub fn token_revoke(&self, name: &str) -> Result<AccessTokenRecord, Error> {
        self.authorize(Action::TokenRevoke, &format!("token:{name}"))?;
        let me = self.actor().clone();
        let mut rec = self
            .store()
            .read()?
            .access_tokens()?
            .into_iter()
            .find(|t| t.owner == me && t.name == name)
            .ok_or_else(|| Error::NotFound(format!("a token of yours named {name}")))?;
        if rec.revoked_at.is_some() {
            return Err(Error::Conflict(format!("token {name} is already revoked")));
        }
        rec.revoked_by = Some(me.clone());
        rec.revoked_at = Some(Timestamp::now());
        let mut tx = self.store().write()?;
        tx.save_access_token(&rec)?;
        events::append(
            &mut *tx,
            &me,
            REVOKE,
            &format!("token:{me}/{name}"),
            &events::TokenRevoked {
                id: rec.id.clone(),
                name: name.to_string(),
                owner: me.to_string(),
            },
        )?;
        self.commit(tx)?;
        Ok(rec)
    }

    /// Records that token `id` opened a call now. Telemetry: no decision
    /// reads it, so it has no audit event.
    pub fn token_touch(&self, id: &str) -> Result<(), Error> {
        let mut tx = self.store().write()?;
        tx.touch_access_token(id, &Timestamp::now())?;
        tx.commit()?;
        Ok(())
    }

    /// The tokens and the secret for checking tokens on every request.
    /// A row that disagrees with the events that made it matches nothing.
    pub fn token_verifier(&self) -> Result<TokenVerifier, Error> {
        let mut read = self.store().read()?;
        let mut logged: HashMap<String, Logged> = HashMap::new();
        for e in read.events_with_actions(&[CREATE, REVOKE])? {
            if e.action == CREATE {
                let p: events::TokenCreated = events::read(&e)?;
                logged.insert(
                    p.id,
                    Logged {
                        owner: e.actor.clone(),
                        name: p.name,
                        roles: p.roles,
                        hash_digest: p.token_hash_digest,
                        expires_at: p.expires_at,
                        revoked: false,
                    },
                );
            } else {
                let p: events::TokenRevoked = events::read(&e)?;
                if let Some(l) = logged.get_mut(&p.id)
                    && l.owner == e.actor
                {
                    l.revoked = true;
                }
            }
        }
        let mut refused = Vec::new();
        let mut tokens = HashMap::new();
        for t in read.access_tokens()? {
            let row = Logged {
                owner: t.owner.to_string(),
                name: t.name.clone(),
                roles: t.roles.iter().map(|r| r.to_string()).collect(),
                hash_digest: crate::ledger::key_hash_digest(&t.token_hash),
                expires_at: t.expires_at.to_string(),
                revoked: t.revoked_at.is_some(),
            };
            match logged.get(&t.id) {
                Some(l) if l == &row => {}
                Some(_) => {
                    refused.push(format!(
                        "access token {}: the row differs from its events",
                        t.id
                    ));
                    continue;
                }
                None => {
                    refused.push(format!("access token {}: no event created it", t.id));
                    continue;
                }
            }
            let Ok(hash) = hex::decode(&t.token_hash) else {
                continue;
            };
            tokens.insert(t.id.clone(), (t, hash));
        }
        drop(read);
        let mac = self.credential_mac()?;
        Ok(TokenVerifier {
            mac,
            tokens,
            refused,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apikey::parse_id;

    #[test]
    fn token_ids_are_parsed_strictly() {
        let t = format!("wdp_0123456789ab_{}", "A".repeat(43));
        assert_eq!(parse_id(&t, TOKEN_PREFIX), Some("0123456789ab"));
        assert_eq!(parse_id(&t.replacen("wdp_", "wdn_", 1), TOKEN_PREFIX), None);
        assert_eq!(parse_id("wdp_0123456789ab_short", TOKEN_PREFIX), None);
    }
}
