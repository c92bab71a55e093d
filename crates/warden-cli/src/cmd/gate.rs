//! `gate`, `promote`, `policy test`.

use std::path::Path;
use std::process::ExitCode;

use warden::GateOutcome;

use super::data::version_ref;
use super::{parse, workspace};
use crate::cli::Global;
use crate::exit;
use crate::output::{self, Failure};

fn print_gate(o: &GateOutcome) {
    println!(
        "{} {} for {} (policy {}, {}; input {})",
        if o.allowed { "ALLOWED" } else { "DENIED" },
        o.model,
        o.env,
        o.policy,
        o.policy_digest,
        o.input_digest
    );
    for r in &o.reasons {
        println!("  - {r}");
    }
}

pub fn gate(
    g: &Global,
    model: &str,
    env: &str,
    input_out: Option<&Path>,
) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    let o = ws.gate(&version_ref(model)?, env)?;
    if let Some(p) = input_out {
        let text = serde_json::to_string_pretty(&o.input)
            .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
        std::fs::write(p, text + "\n")
            .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", p.display())))?;
    }
    if g.json {
        output::json(&o)?;
    } else {
        print_gate(&o);
    }
    Ok(if o.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::GATE_DENIED)
    })
}

pub fn promote(g: &Global, model: &str, env: &str) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    let o = ws.promote(&version_ref(model)?, env)?;
    if g.json {
        output::json(&o)?;
    } else {
        print_gate(&o.gate);
        if o.gate.allowed {
            println!(
                "Promoted {} to {}{} (decision {})",
                o.gate.model,
                o.gate.env,
                o.previous
                    .map(|v| format!(", replacing version {v}"))
                    .unwrap_or_default(),
                o.decision
            );
        } else {
            println!(
                "Not promoted; the decision is recorded (decision {}).",
                o.decision
            );
        }
    }
    Ok(if o.gate.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::GATE_DENIED)
    })
}

pub fn policy_test(g: &Global) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    let (origin, tests) = ws.policy_test()?;
    let failed = tests.iter().filter(|t| !t.1).count();
    if g.json {
        output::json(
            &serde_json::json!({"policy": origin, "tests": tests.iter().map(|(n, ok)| serde_json::json!({"rule": n, "passed": ok})).collect::<Vec<_>>(), "failed": failed}),
        )?;
    } else {
        println!("{} test(s) in {origin}", tests.len());
        for (n, ok) in &tests {
            println!("  {} {n}", if *ok { "PASS" } else { "FAIL" });
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::ERROR)
    })
}

pub fn policy_register(g: &Global, scope: &str) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    let r = ws.policy_register(scope)?;
    if g.json {
        output::json(&r)?;
    } else if r.status == "proposed" {
        println!("Proposed {} for {}", r.digest, r.scope);
        println!(
            "  a second admin registers it with `warden policy register {}`",
            r.scope
        );
    } else {
        println!("Registered {} for {}", r.digest, r.scope);
        if let Some(by) = &r.proposed_by {
            println!("  proposed by {by}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn policy_status(g: &Global) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    let st = ws.policy_status()?;
    if g.json {
        output::json(&st)?;
    } else {
        let mut t = output::table(&["scope", "registered", "on disk", "status"]);
        for s in &st {
            t.add_row(vec![
                s.scope.clone(),
                if s.default {
                    format!("{} (bundled)", short(&s.registered))
                } else {
                    short(&s.registered)
                },
                format!("{} ({})", short(&s.on_disk), s.on_disk_origin),
                match (&s.proposed, s.matches) {
                    (Some(p), _) => format!("proposal {} by {} waiting", short(&p.digest), p.by),
                    (None, true) => "in force".into(),
                    (None, false) => "NOT REGISTERED: decides nothing".into(),
                },
            ]);
        }
        println!("{t}");
    }
    Ok(if st.iter().all(|s| s.matches) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::VERIFICATION)
    })
}

fn short(d: &str) -> String {
    d.chars().take(19).collect()
}

pub fn approve(
    g: &Global,
    model: &str,
    env: &str,
    key: &str,
    comment: Option<&str>,
) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    let a = ws.approve(
        &version_ref(model)?,
        env,
        &parse(key, warden_core::KeyName::new)?,
        comment,
    )?;
    if g.json {
        output::json(&a)?;
    } else {
        println!(
            "Approved {}@{} for {} as {} (approval {}, key {} {})",
            a.approval.model,
            a.approval.version,
            a.approval.env,
            a.approval.approver,
            a.approval.id,
            a.approval.key_name,
            a.key_id
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn quarantine(g: &Global, model: &str, reason: &str) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    let (q, removed) = ws.quarantine(&version_ref(model)?, reason)?;
    if g.json {
        output::json(&serde_json::json!({"quarantine": q, "removed_from": removed}))?;
    } else {
        println!("Quarantined {}@{}: {}", q.model, q.version, q.reason);
        if !removed.is_empty() {
            println!("  removed from {}", removed.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn release(g: &Global, model: &str, reason: &str) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    let q = ws.release(&version_ref(model)?, reason)?;
    if g.json {
        output::json(&q)?;
    } else {
        println!(
            "Released {}@{} from quarantine: {reason}",
            q.model, q.version
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rollback(g: &Global, model: &str, env: &str) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    let r = ws.rollback(&parse(model, warden_core::ObjectName::new)?, env)?;
    if g.json {
        output::json(&r)?;
    } else {
        println!(
            "Rolled {} back in {}: version {}{}",
            r.model,
            r.env,
            r.to,
            r.from.map(|v| format!(" (was {v})")).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn incident(g: &Global, cmd: crate::cli::IncidentCmd) -> Result<ExitCode, Failure> {
    use crate::cli::IncidentCmd as C;
    let ws = workspace(g)?;
    match cmd {
        C::Open {
            model,
            kind,
            summary,
            ..
        } => {
            let o = ws.incident_open(&version_ref(&model)?, &kind, &summary)?;
            if g.json {
                output::json(&o)?;
            } else {
                println!(
                    "Opened incident {} ({kind}) on {model}: quarantined; training and promotion frozen",
                    o.incident.id
                );
                print!("{}", o.markdown);
            }
        }
        C::List { .. } => {
            let list = ws.incident_list()?;
            if g.json {
                output::json(&list)?;
            } else if list.is_empty() {
                println!("No incidents.");
            } else {
                let mut t = output::table(&["id", "kind", "model", "opened", "status"]);
                for i in &list {
                    t.add_row(vec![
                        i.id.to_string(),
                        i.kind.clone(),
                        format!("{}@{}", i.model, i.version),
                        format!("{} by {}", i.opened_at, i.opened_by),
                        match &i.closed_at {
                            Some(at) => format!("closed {at}"),
                            None => "OPEN".into(),
                        },
                    ]);
                }
                println!("{t}");
            }
        }
        C::Show { id, .. } => {
            let (i, md) = ws.incident_show(id)?;
            if g.json {
                output::json(&serde_json::json!({"incident": i, "markdown": md}))?;
            } else {
                print!("{md}");
                if let Some(r) = &i.resolution {
                    println!(
                        "\nClosed by {} at {}: {r}",
                        i.closed_by.as_ref().map(|a| a.as_str()).unwrap_or(""),
                        i.closed_at.as_ref().map(|t| t.as_str()).unwrap_or("")
                    );
                }
            }
        }
        C::Close { id, resolution, .. } => {
            let i = ws.incident_close(id, &resolution)?;
            if g.json {
                output::json(&i)?;
            } else {
                println!("Closed incident {}: {resolution}", i.id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
