//! The composed libp2p behaviour of a node and its connection bounds.

use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{dcutr, identify, ping, relay};

use crate::p2p::dial::AddressBook;
use crate::p2p::gater::Gater;

/// Protocol version string announced by identify (go-libp2p's default).
pub const IDENTIFY_PROTOCOL_VERSION: &str = "ipfs/0.1.0";

#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
pub(super) struct NodeBehaviour {
    // Before the gater: the pending-inbound bound applies before the Noise
    // handshake, when the remote is still anonymous.
    pub(super) limits: libp2p::connection_limits::Behaviour,
    // So that refused peers never reach the other behaviours.
    pub(super) gater: Gater,
    pub(super) addresses: AddressBook,
    pub(super) relay_client: relay::client::Behaviour,
    // Answers and starts DCUtR on circuits, as charon's hole punching does.
    pub(super) dcutr: Toggle<dcutr::Behaviour>,
    pub(super) identify: identify::Behaviour,
    pub(super) ping: ping::Behaviour,
    /// Outbound streams only; inbound ones go through `inbound`, which never
    /// drops a stream.
    pub(super) streams: libp2p_stream::Behaviour,
    pub(super) inbound: crate::p2p::inbound::Behaviour,
}

/// Connection bounds: a few per peer (direct and relayed, both directions),
/// room for every cluster peer and some relays in total, and a small number
/// of handshakes in progress, so anonymous dialers cannot make us run
/// unlimited Noise handshakes.
pub fn connection_limits(cluster_size: usize) -> libp2p::connection_limits::ConnectionLimits {
    use crate::p2p::limits::{MAX_CONNECTIONS_PER_PEER, MAX_PENDING_INCOMING};
    let peers = u32::try_from(cluster_size).unwrap_or(u32::MAX);
    let total = peers
        .saturating_add(16)
        .saturating_mul(MAX_CONNECTIONS_PER_PEER);
    libp2p::connection_limits::ConnectionLimits::default()
        .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
        .with_max_established_incoming(Some(total))
        .with_max_established(Some(total.saturating_mul(2)))
}
