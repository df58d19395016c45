//! Command-line entry point; each subcommand lives in `charon_dkg_sidecar::cmd`.

use std::process::ExitCode;

use charon_dkg_sidecar::cmd;
use clap::{Parser, Subcommand};

/// Pure-Rust DKG engine and Kubernetes sidecar for Obol distributed validators.
///
/// Runs charon's distributed key generation ceremony (wire-compatible with charon
/// v1.11), verifies cluster definitions and locks, and acts as the init container
/// that finds a cluster invitation on the Obol API and produces the files the
/// charon container expects.
#[derive(Parser)]
#[command(name = "charon-dkg-sidecar", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify a cluster lock, a cluster definition, or a node's data directory.
    Verify(cmd::verify::Args),
    /// Run a DKG ceremony as one operator's node (charon dkg compatible).
    Dkg(Box<cmd::dkg::Args>),
    /// Run a circuit-relay v2 server with the HTTP endpoint charon nodes query.
    Relay(cmd::relay::Args),
    /// Create an ENR key or a cluster definition.
    #[command(subcommand)]
    Create(cmd::create::Command),
    /// Run as the DKG sidecar: find the invitation on the Obol API, accept, run the DKG.
    Run(cmd::run::Args),
    /// Run a complete local demo: fake Obol API, relay and several sidecars.
    Demo(cmd::demo::Args),
    /// Time a full local ceremony (n node processes, loopback relay) per step.
    Bench(cmd::bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Verify(a) => cmd::verify::run(a),
        Command::Dkg(a) => cmd::dkg::run(*a),
        Command::Relay(a) => cmd::relay::run(a),
        Command::Create(c) => cmd::create::run(c),
        Command::Run(a) => cmd::run::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Bench(a) => cmd::bench::run(a),
    }
}
