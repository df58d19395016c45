//! What the handle and the swarm task tell each other, and the peer events
//! callers subscribe to.

use libp2p::PeerId;
use tokio::sync::oneshot;

use super::error::HostError;

/// A change in the connection state of a cluster peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// The first connection to the peer was established.
    Connected {
        /// The peer.
        peer: PeerId,
        /// Its operator index.
        index: usize,
        /// Whether the connection runs through a relay circuit.
        relayed: bool,
        /// Whether this node dialed it.
        outbound: bool,
    },
    /// The peer, reached through a relay so far, now also has a direct
    /// connection: new streams use it, long-lived ones may reopen to move.
    Direct {
        /// The peer.
        peer: PeerId,
        /// Its operator index.
        index: usize,
    },
    /// The last connection to the peer closed.
    Disconnected {
        /// The peer.
        peer: PeerId,
        /// Its operator index.
        index: usize,
    },
}

pub(super) enum Command {
    Start(oneshot::Sender<Result<(), HostError>>),
    Dial(PeerId),
    Shutdown,
}
