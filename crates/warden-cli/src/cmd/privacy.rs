//! `privacy epsilon | noise`: budget planning, no workspace needed.

use std::process::ExitCode;

use warden::privacy::{Accountant, PrivacyError, Spent, epsilon, noise_for_epsilon};

use crate::cli::{Global, PrivacyCmd};
use crate::exit;
use crate::output::{self, Failure};

fn failure(e: PrivacyError) -> Failure {
    match e {
        PrivacyError::Unreachable(..) | PrivacyError::BelowRdpFloor { .. } => {
            Failure::new(exit::ERROR, e.to_string())
        }
        other => Failure::new(exit::USAGE, other.to_string()),
    }
}

fn other(a: Accountant) -> Accountant {
    match a {
        Accountant::Pld => Accountant::Rdp,
        Accountant::Rdp => Accountant::Pld,
    }
}

fn spent_json(s: &Spent) -> serde_json::Value {
    match s.order {
        Some(o) => serde_json::json!({"epsilon": s.epsilon, "optimal_order": o}),
        None => serde_json::json!({"epsilon": s.epsilon}),
    }
}

fn describe(s: &Spent) -> String {
    match s.order {
        Some(o) => format!("{} (optimal order {o})", s.accountant.description()),
        None => s.accountant.description().to_string(),
    }
}

pub fn run(g: &Global, cmd: PrivacyCmd) -> Result<ExitCode, Failure> {
    match cmd {
        PrivacyCmd::Epsilon {
            sample_rate,
            noise_multiplier,
            steps,
            delta,
            accountant,
        } => {
            let used: Accountant = accountant.into();
            let main =
                epsilon(used, sample_rate, noise_multiplier, steps, delta).map_err(failure)?;
            let cmp = epsilon(other(used), sample_rate, noise_multiplier, steps, delta)
                .map_err(failure)?;
            let (pld, rdp) = if used == Accountant::Pld {
                (&main, &cmp)
            } else {
                (&cmp, &main)
            };
            if g.json {
                output::json(&serde_json::json!({
                    "epsilon": main.epsilon, "delta": delta,
                    "sample_rate": sample_rate, "noise_multiplier": noise_multiplier, "steps": steps,
                    "accountant": used.as_str(), "accountant_description": used.description(),
                    "pld": spent_json(pld), "rdp": spent_json(rdp),
                }))?;
            } else {
                println!(
                    "epsilon = {:.6} at delta = {delta:e} ({}, used)",
                    main.epsilon,
                    used.as_str().to_uppercase()
                );
                println!(
                    "epsilon = {:.6} by {} (for comparison)",
                    cmp.epsilon,
                    other(used).as_str().to_uppercase()
                );
                println!("  used:       {}", describe(&main));
                println!("  comparison: {}", describe(&cmp));
            }
        }
        PrivacyCmd::Noise {
            target_epsilon,
            sample_rate,
            steps,
            delta,
            accountant,
        } => {
            let used: Accountant = accountant.into();
            let plan = noise_for_epsilon(used, target_epsilon, sample_rate, steps, delta)
                .map_err(failure)?;
            let cmp = epsilon(
                other(used),
                sample_rate,
                plan.noise_multiplier,
                steps,
                delta,
            )
            .map_err(failure)?;
            if g.json {
                let mut main = serde_json::json!({"epsilon": plan.epsilon});
                if let Some(o) = plan.order {
                    main["optimal_order"] = o.into();
                }
                let mut v = serde_json::json!({
                    "noise_multiplier": plan.noise_multiplier, "epsilon": plan.epsilon,
                    "target_epsilon": target_epsilon, "delta": delta,
                    "sample_rate": sample_rate, "steps": steps,
                    "accountant": used.as_str(), "accountant_description": used.description(),
                });
                v[used.as_str()] = main;
                v[other(used).as_str()] = spent_json(&cmp);
                output::json(&v)?;
            } else {
                println!(
                    "noise multiplier = {:.6} gives epsilon = {:.6} <= {target_epsilon} at delta = {delta:e} ({}, used)",
                    plan.noise_multiplier,
                    plan.epsilon,
                    used.as_str().to_uppercase()
                );
                println!(
                    "at this noise {} gives epsilon = {:.6} (for comparison)",
                    other(used).as_str().to_uppercase(),
                    cmp.epsilon
                );
                let main = Spent {
                    accountant: used,
                    epsilon: plan.epsilon,
                    order: plan.order,
                };
                println!("  used:       {}", describe(&main));
                println!("  comparison: {}", describe(&cmp));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
