//! The `dkg` subcommand.

use std::process::ExitCode;

/// Arguments of `dkg`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `dkg`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("dkg: not implemented yet");
    ExitCode::from(2)
}
