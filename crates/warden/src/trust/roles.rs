//! `roles grant | revoke | list`.

use serde::Serialize;
use serde_json::json;
use warden_core::{Action, ActorName, RoleName, Timestamp, actions};
use warden_store::RoleGrant;

use crate::events;
use crate::{Error, Workspace};

/// Every grant in the workspace and the roles the policy knows.
#[derive(Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct RolesReport {
    /// Every grant: who holds which role, given by whom and when.
    pub grants: Vec<RoleGrant>,
    /// The roles the authorisation policy knows, sorted.
    pub known_roles: Vec<String>,
}

/// The fact the policy needs to decide an action that hands out `role`
/// (`roles.grant`, `apikey.create`): `input.requested_role`.
pub(crate) fn requested_role(role: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut facts = serde_json::Map::new();
    facts.insert("requested_role".into(), json!(role));
    facts
}

impl Workspace {
    fn check_known_role(&self, role: &RoleName) -> Result<(), Error> {
        let known = self.known_roles()?;
        if known.iter().any(|r| r == role.as_str()) {
            Ok(())
        } else {
            Err(Error::Usage(format!(
                "unknown role {role:?}; the authorisation policy knows: {}",
                known.join(", ")
            )))
        }
    }

    /// Grants `role` to `actor`. Granting a role already held is an error
    /// (nothing changes, so nothing is recorded).
    pub fn roles_grant(&self, actor: &ActorName, role: &RoleName) -> Result<RoleGrant, Error> {
        self.check_known_role(role)?;
        // The policy sees the role: no one grants a role beyond their own.
        self.authorize_with(
            Action::RolesGrant,
            &format!("actor:{actor}"),
            &requested_role(role.as_str()),
        )?;
        let grant = RoleGrant {
            actor: actor.clone(),
            role: role.clone(),
            granted_by: self.actor().clone(),
            time: Timestamp::now(),
        };
        let mut tx = self.store().write()?;
        if !tx.grant_role(&grant)? {
            return Err(Error::Conflict(format!(
                "{actor} already holds the role {role}"
            )));
        }
        events::append(
            &mut *tx,
            self.actor(),
            actions::ROLES_GRANT,
            &format!("actor:{actor}"),
            &events::RoleChange {
                actor: actor.to_string(),
                role: role.to_string(),
                reason: None,
            },
        )?;
        self.commit(tx)?;
        Ok(grant)
    }

    /// Revokes `role` from `actor`. The last `admin` cannot be revoked: the
    /// workspace would have nobody able to grant roles again.
    pub fn roles_revoke(&self, actor: &ActorName, role: &RoleName) -> Result<(), Error> {
        self.authorize(Action::RolesRevoke, &format!("actor:{actor}"))?;
        let mut tx = self.store().write()?;
        if role.as_str() == "admin"
            && tx.count_role(role)? == 1
            && tx.roles_of(actor)?.contains(role)
        {
            return Err(Error::Conflict(format!(
                "{actor} is the last admin; grant admin to someone else first"
            )));
        }
        if !tx.revoke_role(actor, role)? {
            return Err(Error::NotFound(format!("a grant of {role} to {actor}")));
        }
        events::append(
            &mut *tx,
            self.actor(),
            actions::ROLES_REVOKE,
            &format!("actor:{actor}"),
            &events::RoleChange {
                actor: actor.to_string(),
                role: role.to_string(),
                reason: None,
            },
        )?;
        self.commit(tx)?;
        Ok(())
    }

    /// All grants.
    pub fn roles_list(&self) -> Result<RolesReport, Error> {
        self.authorize(Action::RolesList, "roles")?;
        let grants = self.store().read()?.role_grants()?;
        Ok(RolesReport {
            grants,
            known_roles: self.known_roles()?,
        })
    }
}
