//! Subcommand implementations behind the thin `main.rs`: argument parsing with
//! clap, logging set-up, and mapping library errors to exit codes.

pub mod bench;
pub mod create;
pub mod demo;
pub mod dkg;
pub mod localnet;
pub mod logging;
pub mod relay;
pub mod run;
pub mod verify;
