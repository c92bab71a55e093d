//! `warden`: a secure lifecycle for machine-learning models.
//!
//! This binary owns argument parsing, human and JSON output, and exit codes.
//! Everything it does goes through the `warden` engine crate.
#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::output::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

/// Exit codes, the same for every command (documented in the README).
pub mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_AUTHORISED: u8 = 3;
    pub const GATE_DENIED: u8 = 4;
    pub const VERIFICATION: u8 = 5;
    pub const FINDINGS: u8 = 6;
    pub const DRIFT: u8 = 7;
}

impl From<warden::Error> for Failure {
    fn from(e: warden::Error) -> Self {
        Failure::from_engine(e)
    }
}
