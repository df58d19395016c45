//! The errors of the host.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};

use crate::p2p::identity::IdentityError;

/// Why a TCP listener could not start: libp2p's own message for an I/O
/// failure is empty, so the user would not learn that the port is taken.
pub(crate) fn listen_failure(e: &libp2p::TransportError<std::io::Error>) -> String {
    match e {
        libp2p::TransportError::Other(io) => io.to_string(),
        libp2p::TransportError::MultiaddrNotSupported(a) => format!("address {a} not supported"),
    }
}

/// Errors of the host.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The identity key could not be used.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The libp2p stack could not be built.
    #[error("build libp2p host: {0}")]
    Build(String),
    /// The local key is not one of the cluster's peers.
    #[error(
        "local peer {0} is not one of the cluster peers (private key not matching definition file)"
    )]
    NotInCluster(PeerId),
    /// A TCP listen address could not be bound.
    #[error("listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why it failed.
        reason: String,
    },
    /// No relay resolved in time.
    #[error("timeout resolving bootnode ENR: no relay resolved within {0:?}")]
    RelayTimeout(Duration),
    /// A stream was requested to a peer outside the cluster.
    #[error("peer {0} is not a cluster peer")]
    UnknownPeer(PeerId),
    /// The protocol name is not valid (must start with `/`).
    #[error("invalid protocol name {0:?}")]
    InvalidProtocol(String),
    /// The protocol already has an acceptor.
    #[error("protocol {0} is already being accepted")]
    AlreadyAccepting(String),
    /// Opening a stream did not succeed before the deadline.
    #[error("{0}")]
    OpenTimeout(Box<OpenTimeout>),
    /// Not every cluster peer connected in time.
    #[error("peers {missing:?} (operator indices) not connected after {timeout:?}")]
    ConnectTimeout {
        /// Operator indices still missing.
        missing: Vec<usize>,
        /// How long we waited.
        timeout: Duration,
    },
    /// The host task has stopped.
    #[error("p2p host has shut down")]
    Stopped,
}

/// Details of a stream that could not be opened in time.
#[derive(Debug, thiserror::Error)]
#[error(
    "open {protocol} stream to peer {peer_index} ({peer}) timed out after {timeout:?}: {last_error}"
)]
pub struct OpenTimeout {
    /// Remote peer.
    pub peer: PeerId,
    /// Remote's operator index.
    pub peer_index: usize,
    /// Protocol name.
    pub protocol: String,
    /// How long we tried.
    pub timeout: Duration,
    /// Last error seen.
    pub last_error: String,
}
