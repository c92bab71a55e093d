use std::process::ExitCode;

use warden::{EventFilter, NoteVerifier, ProofFile};

use super::workspace;
use crate::cli::{AuditCmd, Global};
use crate::exit;
use crate::output::{self, Failure};

/// Largest proof file `check-proof` reads.
const MAX_PROOF_BYTES: u64 = 16 << 20;

pub fn run(g: &Global, cmd: AuditCmd) -> Result<ExitCode, Failure> {
    match cmd {
        AuditCmd::Log {
            since,
            by,
            action,
            limit,
        } => {
            let ws = workspace(g)?;
            let events = ws.audit_log(&EventFilter {
                since,
                actor: by,
                action,
                limit,
            })?;
            if g.json {
                output::json(&events)?;
            } else {
                let mut t = output::table(&["seq", "time", "actor", "action", "subject"]);
                for e in &events {
                    t.add_row(vec![
                        e.seq.to_string(),
                        e.time.clone(),
                        e.actor.clone(),
                        e.action.clone(),
                        e.subject.clone(),
                    ]);
                }
                println!("{t}");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::WitnessKey { name, out } => {
            let passphrase = super::open_options().passphrase;
            let vkey = warden::witness_key_generate(
                &out,
                &name,
                passphrase.as_ref().map(|p| p.as_bytes()),
            )?;
            if g.json {
                output::json(&serde_json::json!({"witness": name, "vkey": vkey, "key": out}))?;
            } else {
                println!(
                    "Witness key for {name} written to {} (mode 0600)",
                    out.display()
                );
                println!("  verifier key  {vkey}");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Witness { key, name, .. } => {
            let ws = workspace(g)?;
            let w = ws.audit_witness(&key, &name)?;
            if g.json {
                output::json(&w)?;
            } else {
                println!(
                    "Cosigned the checkpoint at size {} as {}",
                    w.size, w.witness
                );
                println!("  published     {}", w.published);
                println!("  verifier key  {}", w.vkey);
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Verify {
            vkey,
            pin,
            no_remember,
            witness,
            ..
        } => {
            let ws = workspace(g)?;
            let mut pins = Vec::new();
            for p in &pin {
                let note = read_pin(p)?;
                pins.push((format!("pinned checkpoint {}", p.display()), note));
            }
            let report = ws.audit_verify_with(&warden::VerifyOptions {
                vkey: vkey.clone(),
                pins,
                no_remember,
                witnesses: witness,
                for_decision: false,
            })?;
            if g.json {
                output::json(&report)?;
            } else if report.ok {
                println!(
                    "Audit log OK: {} events, root {}, {} signed checkpoints checked",
                    report.events, report.root_hash, report.checkpoints_checked
                );
                if let Some(f) = &report.remembered {
                    println!("  consistent with the checkpoint remembered in {f}");
                }
                println!("  registry state agrees with the log's events");
            } else {
                eprintln!("Audit log verification FAILED");
                if let Some(i) = report.first_bad_index {
                    eprintln!("  first bad index: {i}");
                }
                for p in &report.problems {
                    eprintln!("  - {}", p.message);
                }
                if report.more_problems > 0 {
                    eprintln!("  ... and {} more problems", report.more_problems);
                }
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::VERIFICATION)
            })
        }
        AuditCmd::Proof {
            index, consistency, ..
        } => {
            let ws = workspace(g)?;
            let proof = match (index, consistency.as_deref()) {
                (Some(i), _) => ProofFile::Inclusion(ws.audit_inclusion_proof(i)?),
                (None, Some([old, new])) => {
                    ProofFile::Consistency(ws.audit_consistency_proof(*old, *new)?)
                }
                _ => {
                    return Err(Failure::new(
                        exit::USAGE,
                        "give --index N or --consistency OLD NEW",
                    ));
                }
            };
            if g.json {
                output::json(&proof)?;
            } else {
                match &proof {
                    ProofFile::Inclusion(p) => {
                        println!(
                            "Inclusion proof: event {} in the log of size {}",
                            p.leaf_index, p.tree_size
                        );
                        println!("  leaf hash  {}", p.leaf_hash);
                        println!("  root hash  {}", p.root_hash);
                        for (i, h) in p.proof.iter().enumerate() {
                            println!("  path[{i}]    {h}");
                        }
                    }
                    ProofFile::Consistency(p) => {
                        println!(
                            "Consistency proof: size {} -> size {}",
                            p.old_size, p.new_size
                        );
                        println!("  old root   {}", p.old_root);
                        println!("  new root   {}", p.new_root);
                        for (i, h) in p.proof.iter().enumerate() {
                            println!("  proof[{i}]   {h}");
                        }
                    }
                }
                println!("(use --json to write a proof file for `warden audit check-proof`)");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::CheckProof { file, vkey, .. } => {
            let meta = std::fs::metadata(&file)
                .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", file.display())))?;
            if meta.len() > MAX_PROOF_BYTES {
                return Err(Failure::new(
                    exit::ERROR,
                    format!(
                        "{}: {} bytes is too large for a proof file",
                        file.display(),
                        meta.len()
                    ),
                ));
            }
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", file.display())))?;
            let proof: ProofFile = serde_json::from_str(&text).map_err(|e| {
                Failure::new(
                    exit::ERROR,
                    format!("{}: not a Warden proof file: {e}", file.display()),
                )
            })?;
            let check = match vkey {
                Some(v) => {
                    let verifier = NoteVerifier::from_vkey(v.trim())
                        .map_err(|e| Failure::new(exit::USAGE, format!("--vkey: {e}")))?;
                    warden::check_proof(&proof, &verifier)?
                }
                None => workspace(g)?.audit_check_proof(&proof)?,
            };
            if g.json {
                output::json(&check)?;
            } else {
                println!("Proof OK: {}", check.summary);
                for s in &check.unsigned_roots {
                    println!("  note: the root at size {s} is not covered by a signed checkpoint");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads a checkpoint note held elsewhere (`--pin FILE`), size-bounded.
fn read_pin(path: &std::path::Path) -> Result<String, Failure> {
    use std::io::Read;
    const MAX_NOTE: u64 = 64 * 1024;
    let f = std::fs::File::open(path)
        .map_err(|e| Failure::new(exit::USAGE, format!("--pin {}: {e}", path.display())))?;
    let mut text = String::new();
    f.take(MAX_NOTE + 1)
        .read_to_string(&mut text)
        .map_err(|e| Failure::new(exit::USAGE, format!("--pin {}: {e}", path.display())))?;
    if text.len() as u64 > MAX_NOTE {
        return Err(Failure::new(
            exit::USAGE,
            format!(
                "--pin {}: larger than a checkpoint note can be",
                path.display()
            ),
        ));
    }
    Ok(text)
}
