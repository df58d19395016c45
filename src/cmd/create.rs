//! The `create` subcommands.

use std::process::ExitCode;

/// What to create.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create an ENR private key and print the ENR.
    Enr(EnrArgs),
}

/// Arguments of `create enr`.
#[derive(clap::Args, Debug)]
pub struct EnrArgs {}

/// Runs a `create` subcommand.
pub fn run(_cmd: Command) -> ExitCode {
    eprintln!("create: not implemented yet");
    ExitCode::from(2)
}
