//! Connection gater: only cluster peers and the currently resolved relays may
//! hold a connection to this node, in either direction (charon `p2p/gater.go`
//! filters after the security handshake; so do we, when the peer ID is known).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use libp2p::swarm::{ConnectionDenied, dummy};
use libp2p::{Multiaddr, PeerId};

use super::passive::dummy_handler_behaviour;

/// The error carried by a denied connection.
#[derive(Debug, thiserror::Error)]
#[error("peer {0} is neither a cluster peer nor a known relay")]
pub struct NotAllowed(pub PeerId);

/// The set of peers allowed to connect; cloned handles share the relay set.
#[derive(Clone, Debug)]
pub struct Allowlist {
    cluster: Arc<HashSet<PeerId>>,
    relays: Arc<RwLock<HashSet<PeerId>>>,
}

impl Allowlist {
    /// An allowlist of the given cluster peers and no relays yet.
    pub fn new(cluster: impl IntoIterator<Item = PeerId>) -> Self {
        Self {
            cluster: Arc::new(cluster.into_iter().collect()),
            relays: Arc::default(),
        }
    }

    /// Whether `peer` may connect.
    pub fn allows(&self, peer: &PeerId) -> bool {
        self.cluster.contains(peer) || self.is_relay(peer)
    }

    /// Whether `peer` is one of the cluster's peers.
    pub fn is_cluster_peer(&self, peer: &PeerId) -> bool {
        self.cluster.contains(peer)
    }

    /// Whether `peer` is a currently resolved relay.
    pub fn is_relay(&self, peer: &PeerId) -> bool {
        self.relays
            .read()
            .map(|r| r.contains(peer))
            .unwrap_or_else(|poisoned| poisoned.into_inner().contains(peer))
    }

    /// Admits a relay peer.
    pub fn add_relay(&self, peer: PeerId) {
        match self.relays.write() {
            Ok(mut r) => r.insert(peer),
            Err(poisoned) => poisoned.into_inner().insert(peer),
        };
    }

    /// Stops admitting a relay peer (it changed identity).
    pub fn remove_relay(&self, peer: &PeerId) {
        match self.relays.write() {
            Ok(mut r) => r.remove(peer),
            Err(poisoned) => poisoned.into_inner().remove(peer),
        };
    }
}

/// A [`NetworkBehaviour`] that denies connections of peers not in its
/// [`Allowlist`]. Place it first in a composed behaviour.
pub struct Gater {
    allow: Allowlist,
}

impl Gater {
    /// A gater enforcing `allow`.
    pub fn new(allow: Allowlist) -> Self {
        Self { allow }
    }

    fn check(&self, peer: PeerId) -> Result<dummy::ConnectionHandler, ConnectionDenied> {
        if self.allow.allows(&peer) {
            Ok(dummy::ConnectionHandler)
        } else {
            tracing::debug!(%peer, "Gater refused connection of unknown peer");
            Err(ConnectionDenied::new(NotAllowed(peer)))
        }
    }

    /// Refuses to dial a peer outside the allow list; adds no addresses.
    fn pending_outbound(
        &self,
        maybe_peer: Option<PeerId>,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        match maybe_peer {
            Some(peer) if !self.allow.allows(&peer) => Err(ConnectionDenied::new(NotAllowed(peer))),
            _ => Ok(Vec::new()),
        }
    }
}

dummy_handler_behaviour!(Gater, handler = check, pending_outbound = pending_outbound);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_admits_cluster_and_relays_only() {
        let (a, b, r, x) = (
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
        );
        let allow = Allowlist::new([a, b]);
        assert!(allow.allows(&a) && allow.allows(&b));
        assert!(!allow.allows(&r) && !allow.allows(&x));
        let shared = allow.clone();
        shared.add_relay(r);
        assert!(allow.allows(&r) && allow.is_relay(&r) && !allow.is_cluster_peer(&r));
        allow.remove_relay(&r);
        assert!(!shared.allows(&r));
    }
}
