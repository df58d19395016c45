//! What a host is built from.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};

use crate::p2p::dial::Compat;
use crate::p2p::identity::EnrPrivateKey;
use crate::p2p::relay_http::{ClusterHeaders, REFRESH_INTERVAL, RelaySpec};

/// Everything needed to build a [`Host`].
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The node's identity key.
    pub key: EnrPrivateKey,
    /// All cluster peers in operator order (including this node).
    pub peers: Vec<PeerId>,
    /// Relays: multiaddrs or URLs (`--p2p-relays`).
    pub relays: Vec<RelaySpec>,
    /// Headers sent with relay URL queries.
    pub cluster_headers: ClusterHeaders,
    /// TCP listen addresses (`--p2p-tcp-address`); empty for outbound only.
    pub tcp_listen: Vec<SocketAddr>,
    /// `--p2p-external-ip`.
    pub external_ip: Option<IpAddr>,
    /// `--p2p-external-hostname`.
    pub external_hostname: Option<String>,
    /// Direct addresses of peers (e.g. from ENRs), dialed besides relays.
    pub direct_addrs: HashMap<PeerId, Vec<Multiaddr>>,
    /// Which charon release's dial rule to follow.
    pub compat: Compat,
    /// How often relay URLs are polled again.
    pub relay_refresh: Duration,
    /// How long [`Host::start`] waits for the first relay to resolve.
    pub relay_resolve_timeout: Duration,
    /// Default deadline of [`Host::open_stream`].
    pub open_timeout: Duration,
    /// Agent version announced through identify.
    pub agent_version: String,
    /// Dial from fresh ports rather than the listen port (no SO_REUSEPORT on dials).
    pub disable_reuseport: bool,
    /// Reach peers through relays only: no ENR addresses, no addresses
    /// learned through identify, no hole punching.
    pub relay_only: bool,
}

impl HostConfig {
    /// A configuration with charon's defaults for the given key and peers.
    pub fn new(key: EnrPrivateKey, peers: Vec<PeerId>) -> Self {
        Self {
            key,
            peers,
            relays: Vec::new(),
            cluster_headers: ClusterHeaders::default(),
            tcp_listen: Vec::new(),
            external_ip: None,
            external_hostname: None,
            direct_addrs: HashMap::new(),
            compat: Compat::default(),
            relay_refresh: REFRESH_INTERVAL,
            relay_resolve_timeout: Duration::from_secs(60),
            open_timeout: Duration::from_secs(10),
            agent_version: format!("charon-dkg-sidecar/{}", env!("CARGO_PKG_VERSION")),
            disable_reuseport: false,
            relay_only: false,
        }
    }
}
