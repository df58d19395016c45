//! Subcommand implementations behind the thin `main.rs`: argument parsing with
//! clap, logging set-up, and mapping library errors to exit codes.

pub mod bench;
pub mod create;
pub mod demo;
pub mod dkg;
pub mod execution_client;
pub mod localnet;
pub mod logging;
pub mod relay;
pub mod run;
pub mod verify;

/// Parses a listen address as Go's `net.ResolveTCPAddr` does: `ip:port`,
/// `host:port` (resolved, IPv4 preferred) or `:port` (all interfaces).
pub fn parse_listen_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    let s = s.trim();
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_owned()
    };
    let addrs: Vec<std::net::SocketAddr> =
        full.to_socket_addrs().map_err(|e| e.to_string())?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| "resolves to no address".to_owned())
}
