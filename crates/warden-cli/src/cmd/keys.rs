use std::process::ExitCode;

use warden::Algorithm;
use warden_core::KeyName;

use super::{parse, workspace};
use crate::cli::{Global, KeysCmd};
use crate::exit;
use crate::output::{self, Failure};

pub fn run(g: &Global, cmd: KeysCmd) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    match cmd {
        KeysCmd::Enrol { name, key_type, .. } => {
            let algorithm: Algorithm = key_type
                .parse()
                .map_err(|e: warden::KeyError| Failure::new(exit::USAGE, e.to_string()))?;
            let info = ws.keys_enrol(&parse(&name, KeyName::new)?, algorithm)?;
            if g.json {
                output::json(&info)?;
            } else {
                println!(
                    "Enrolled {} approval key {} for {}",
                    info.summary.algorithm,
                    info.summary.name,
                    ws.actor()
                );
                println!("  key id       {}", info.summary.key_id);
                if let Some(p) = &info.private_key_path {
                    println!("  private key  {p} (mode 0600, yours only)");
                }
                println!(
                    "An admin other than you acknowledges it: `warden keys acknowledge {}`.",
                    info.summary.name
                );
            }
        }
        KeysCmd::Acknowledge { name, .. } => {
            let summary = ws.keys_acknowledge(&parse(&name, KeyName::new)?)?;
            if g.json {
                output::json(&summary)?;
            } else {
                println!(
                    "Acknowledged key {} of {} ({})",
                    summary.name,
                    summary.owner.as_deref().unwrap_or("?"),
                    summary.key_id
                );
            }
        }
        KeysCmd::Generate {
            name,
            key_type,
            purpose,
            ..
        } => {
            let algorithm: Algorithm = key_type
                .parse()
                .map_err(|e: warden::KeyError| Failure::new(exit::USAGE, e.to_string()))?;
            let purpose = warden::KeyPurpose::parse(&purpose)?;
            let info = ws.keys_generate_for(&parse(&name, KeyName::new)?, algorithm, purpose)?;
            if g.json {
                output::json(&info)?;
            } else {
                println!(
                    "Generated {} key {}",
                    info.summary.algorithm, info.summary.name
                );
                println!("  key id       {}", info.summary.key_id);
                if let Some(p) = &info.private_key_path {
                    println!("  private key  {p} (mode 0600)");
                }
                println!(
                    "Share the public half with `warden keys export-public {}`.",
                    info.summary.name
                );
            }
        }
        KeysCmd::List { .. } => {
            let keys = ws.keys_list()?;
            if g.json {
                output::json(&keys)?;
            } else {
                let mut t = output::table(&[
                    "name", "purpose", "owner", "origin", "type", "key id", "status",
                ]);
                for k in &keys {
                    t.add_row(vec![
                        k.name.clone(),
                        k.purpose.clone().unwrap_or_else(|| "-".into()),
                        k.owner.clone().unwrap_or_else(|| "-".into()),
                        k.origin.clone(),
                        k.algorithm.clone(),
                        k.key_id.clone(),
                        match (&k.revoked_at, &k.purpose, &k.acknowledged_by) {
                            (Some(at), _, _) => format!("revoked {at}"),
                            (None, Some(p), None) if p == "approval" => {
                                "awaiting acknowledgement".into()
                            }
                            (None, Some(p), Some(by)) if p == "approval" => {
                                format!("active (acknowledged by {by})")
                            }
                            _ => "active".into(),
                        },
                    ]);
                }
                println!("{t}");
            }
        }
        KeysCmd::ExportPublic { name, .. } => {
            let info = ws.keys_export_public(&parse(&name, KeyName::new)?)?;
            if g.json {
                output::json(&info)?;
            } else {
                print!("{}", info.public_pem);
            }
        }
        KeysCmd::Trust { file, name, .. } => {
            let info = ws.keys_trust(&file, &parse(&name, KeyName::new)?)?;
            if g.json {
                output::json(&info)?;
            } else {
                println!(
                    "Trusted {} key {} ({})",
                    info.summary.algorithm, info.summary.name, info.summary.key_id
                );
            }
        }
        KeysCmd::Revoke { name, .. } => {
            let summary = ws.keys_revoke(&parse(&name, KeyName::new)?)?;
            if g.json {
                output::json(&summary)?;
            } else {
                println!("Revoked key {} ({})", summary.name, summary.key_id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `warden apikey create|list|revoke`.
pub fn apikey(g: &Global, cmd: crate::cli::ApikeyCmd) -> Result<ExitCode, Failure> {
    use crate::cli::ApikeyCmd as C;
    let ws = workspace(g)?;
    match cmd {
        C::Create {
            name,
            name_flag,
            role,
            expires,
            rate_limit,
            ..
        } => {
            let name = name.or(name_flag).unwrap_or_default();
            let now = warden_core::Timestamp::now();
            let expires = expires
                .map(|e| warden::parse_expiry(&e, &now))
                .transpose()?;
            let created = ws.apikey_create(&name, &role, expires, rate_limit)?;
            if g.json {
                let mut v = serde_json::to_value(&created.record)
                    .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("key".into(), created.key.as_str().into());
                }
                output::json(&v)?;
            } else {
                println!("{}", created.key.as_str());
                eprintln!(
                    "API key {} (role {}{}) created. This is the only time the key is shown: store it now.",
                    created.record.name,
                    created.record.role,
                    created
                        .record
                        .expires_at
                        .as_ref()
                        .map(|e| format!(", expires {e}"))
                        .unwrap_or_default()
                );
            }
        }
        C::List { .. } => {
            let keys = ws.apikey_list()?;
            let holds = ws.apikey_holds()?;
            if g.json {
                // Each key with its block or throttle, if any.
                let listed: Vec<serde_json::Value> = keys
                    .iter()
                    .map(|k| {
                        let mut v = serde_json::to_value(k).unwrap_or_default();
                        if let (Some(o), Some(h)) = (
                            v.as_object_mut(),
                            holds.iter().find(|h| h.hold.key_id == k.id),
                        ) {
                            o.insert(
                                "hold".into(),
                                serde_json::to_value(&h.hold).unwrap_or_default(),
                            );
                        }
                        v
                    })
                    .collect();
                output::json(&listed)?;
            } else {
                let mut t = output::table(&["name", "id", "role", "created", "expires", "status"]);
                let now = warden_core::Timestamp::now();
                for k in &keys {
                    let hold = holds.iter().find(|h| h.hold.key_id == k.id);
                    let held;
                    let status = if k.revoked_at.is_some() {
                        "revoked"
                    } else if k.expires_at.as_ref().is_some_and(|e| e <= &now) {
                        "expired"
                    } else if let Some(h) = hold {
                        held = match h.hold.rate_limit {
                            Some(r) if h.hold.kind == "throttle" => {
                                format!("throttled to {r}/s by {}", h.hold.held_by)
                            }
                            _ => format!("blocked by {}", h.hold.held_by),
                        };
                        held.as_str()
                    } else {
                        "active"
                    };
                    t.add_row(vec![
                        k.name.clone(),
                        k.id.clone(),
                        k.role.clone(),
                        k.created_at.to_string(),
                        k.expires_at
                            .as_ref()
                            .map(|e| e.to_string())
                            .unwrap_or_else(|| "never".into()),
                        status.into(),
                    ]);
                }
                println!("{t}");
            }
        }
        C::Block { name, reason, .. } => {
            let h = ws.apikey_hold(&name, "block", None, &reason)?;
            if g.json {
                output::json(&h)?;
            } else {
                println!("blocked API key {name}; `warden apikey unblock {name}` lifts it");
            }
        }
        C::Throttle {
            name, rate, reason, ..
        } => {
            let h = ws.apikey_hold(&name, "throttle", Some(rate), &reason)?;
            if g.json {
                output::json(&h)?;
            } else {
                println!(
                    "throttled API key {name} to {rate} requests/s; `warden apikey unblock {name}` lifts it"
                );
            }
        }
        C::Unblock { name, .. } => {
            ws.apikey_unblock(&name)?;
            if g.json {
                output::json(&serde_json::json!({"unblocked": name}))?;
            } else {
                println!("lifted the hold on API key {name}");
            }
        }
        C::Revoke { name, .. } => {
            let k = ws.apikey_revoke(&name)?;
            if g.json {
                output::json(&k)?;
            } else {
                println!("revoked API key {} ({})", k.name, k.id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
