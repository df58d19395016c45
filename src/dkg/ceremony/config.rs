//! What a ceremony is told besides the definition, and what it returns.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::dkg::erc1271::ExecutionClient;
use crate::dkg::keymanager::Keymanager;
use crate::frost::bls::PublicKey;
use crate::lock::network::NetworkSet;
use crate::p2p::protocols::Compat;

/// Everything the ceremony needs besides the definition.
#[derive(Debug, Clone)]
pub struct CeremonyConfig {
    /// Data directory: holds the ENR key, receives the outputs.
    pub data_dir: PathBuf,
    /// Relay multiaddrs or URLs.
    pub relays: Vec<String>,
    /// TCP listen addresses.
    pub tcp_listen: Vec<SocketAddr>,
    /// Advertised IP.
    pub external_ip: Option<IpAddr>,
    /// Advertised host name.
    pub external_hostname: Option<String>,
    /// Wait for peers and for each exchange at most this long.
    pub timeout: Duration,
    /// Skip the final lock verification (charon --no-verify).
    pub no_verify: bool,
    /// Which charon minor version to speak.
    pub compat: Compat,
    /// Sent in sync messages.
    pub nickname: String,
    /// Networks accepted.
    pub networks: NetworkSet,
    /// pbkdf2 iterations for keystores (charon: 262144).
    pub keystore_pbkdf2_c: u32,
    /// Import the keys here instead of writing keystores (charon
    /// `--keymanager-address`); on failure they are written to disk instead.
    pub keymanager: Option<Keymanager>,
    /// Deliberate misbehaviour, for testing how honest peers react.
    pub fault: Option<Fault>,
    /// Dial from fresh ports instead of the listen port (charon's
    /// `--p2p-disable-reuseport`).
    pub disable_reuseport: bool,
    /// Reach peers through relays only (no direct dials, no hole punching).
    pub relay_only: bool,
    /// Asked about contract-wallet (ERC-1271) signatures when the lock is
    /// verified at step 6, as charon re-asks there; without one they are
    /// rejected.
    pub execution_client: Option<ExecutionClient>,
}

/// Misbehaviour a test node can be told to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Send every peer a round-1 share for validator 0 that is off the polynomial.
    InvalidFrostShare,
    /// Spend `--timeout` plus 5 s before reaching step 7, still answering
    /// sync, like a charon peer encrypting many keystores.
    SlowBeforeStep7,
}

/// What a successful ceremony produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The lock hash.
    pub lock_hash: [u8; 32],
    /// Validator public keys in lock order.
    pub validators: Vec<PublicKey>,
    /// Wall time per step.
    pub step_seconds: Vec<(u64, f64)>,
}
