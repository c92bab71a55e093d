use std::process::ExitCode;

use warden_core::{ActorName, RoleName};

use super::{parse, workspace};
use crate::cli::{Global, RolesCmd};
use crate::output::{self, Failure};

pub fn run(g: &Global, cmd: RolesCmd) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    match cmd {
        RolesCmd::Grant { member, role, .. } => {
            let grant = ws.roles_grant(
                &parse(&member, ActorName::new)?,
                &parse(&role, RoleName::new)?,
            )?;
            if g.json {
                output::json(&grant)?;
            } else {
                println!("Granted {} to {}", grant.role, grant.actor);
            }
        }
        RolesCmd::Revoke { member, role, .. } => {
            let (actor, role) = (
                parse(&member, ActorName::new)?,
                parse(&role, RoleName::new)?,
            );
            ws.roles_revoke(&actor, &role)?;
            if g.json {
                output::json(&serde_json::json!({"actor": actor, "role": role, "revoked": true}))?;
            } else {
                println!("Revoked {role} from {actor}");
            }
        }
        RolesCmd::List { .. } => {
            let report = ws.roles_list()?;
            if g.json {
                output::json(&report)?;
            } else {
                let mut t = output::table(&["actor", "role", "granted by", "time"]);
                for gr in &report.grants {
                    t.add_row(vec![
                        gr.actor.to_string(),
                        gr.role.to_string(),
                        gr.granted_by.to_string(),
                        gr.time.to_string(),
                    ]);
                }
                println!("{t}");
                println!(
                    "\nRoles known to the policy: {}",
                    report.known_roles.join(", ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
