//! The `relay` subcommand.

use std::process::ExitCode;

/// Arguments of `relay`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `relay`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("relay: not implemented yet");
    ExitCode::from(2)
}
