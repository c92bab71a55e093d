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
        KeysCmd::Generate { name, key_type, .. } => {
            let algorithm: Algorithm = key_type
                .parse()
                .map_err(|e: warden::KeyError| Failure::new(exit::USAGE, e.to_string()))?;
            let info = ws.keys_generate(&parse(&name, KeyName::new)?, algorithm)?;
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
                let mut t =
                    output::table(&["name", "origin", "type", "key id", "added by", "status"]);
                for k in &keys {
                    t.add_row(vec![
                        k.name.clone(),
                        k.origin.clone(),
                        k.algorithm.clone(),
                        k.key_id.clone(),
                        k.added_by.clone(),
                        match &k.revoked_at {
                            Some(at) => format!("revoked {at}"),
                            None => "active".into(),
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
