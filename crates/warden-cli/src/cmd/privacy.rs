//! `privacy epsilon | noise`: budget planning, no workspace needed.

use std::process::ExitCode;

use warden_ml::privacy::{ACCOUNTANT, OPACUS_ORDERS, epsilon, noise_for_epsilon};

use crate::cli::{Global, PrivacyCmd};
use crate::exit;
use crate::output::{self, Failure};

pub fn run(g: &Global, cmd: PrivacyCmd) -> Result<ExitCode, Failure> {
    let usage = |e: warden_ml::privacy::PrivacyError| Failure::new(exit::USAGE, e.to_string());
    match cmd {
        PrivacyCmd::Epsilon {
            sample_rate,
            noise_multiplier,
            steps,
            delta,
        } => {
            let (eps, order) = epsilon(sample_rate, noise_multiplier, steps, delta, &OPACUS_ORDERS)
                .map_err(usage)?;
            if g.json {
                output::json(&serde_json::json!({
                    "epsilon": eps, "delta": delta, "optimal_order": order,
                    "sample_rate": sample_rate, "noise_multiplier": noise_multiplier, "steps": steps,
                    "accountant": ACCOUNTANT,
                }))?;
            } else {
                println!("epsilon = {eps:.6} at delta = {delta:e} (optimal RDP order {order})");
                println!("{ACCOUNTANT}");
            }
        }
        PrivacyCmd::Noise {
            target_epsilon,
            sample_rate,
            steps,
            delta,
        } => {
            let plan = noise_for_epsilon(target_epsilon, sample_rate, steps, delta, &OPACUS_ORDERS)
                .map_err(|e| match e {
                    warden_ml::privacy::PrivacyError::Unreachable(..) => {
                        Failure::new(exit::ERROR, e.to_string())
                    }
                    other => usage(other),
                })?;
            if g.json {
                output::json(&serde_json::json!({
                    "noise_multiplier": plan.noise_multiplier, "epsilon": plan.epsilon,
                    "optimal_order": plan.order, "target_epsilon": target_epsilon, "delta": delta,
                    "sample_rate": sample_rate, "steps": steps, "accountant": ACCOUNTANT,
                }))?;
            } else {
                println!(
                    "noise multiplier = {:.6} gives epsilon = {:.6} <= {target_epsilon} at delta = {delta:e} (optimal RDP order {})",
                    plan.noise_multiplier, plan.epsilon, plan.order
                );
                println!("{ACCOUNTANT}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
