//! Who dials whom, and through which addresses.
//!
//! charon v1.11 gives a relay route only to the side whose peer ID is bytewise
//! smaller (`p2p/relay.go` `shouldDialPeer`); v1.10 gave both sides routes.
//! [`AddressBook`] answers the swarm's "which addresses for this peer?" with
//! relay circuits (subject to that rule) and any direct addresses learned from
//! ENRs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use libp2p::multiaddr::Protocol;
use libp2p::swarm::{ConnectionDenied, dummy};
use libp2p::{Multiaddr, PeerId};

use super::passive::dummy_handler_behaviour;

pub use super::protocols::Compat;

/// Whether `local` should dial `remote` through a relay: charon compares the raw
/// peer-ID bytes (binary multihash), not the base58 text.
pub fn should_dial_via_relay(local: &PeerId, remote: &PeerId, compat: Compat) -> bool {
    if compat.smaller_id_dials() {
        local.to_bytes() < remote.to_bytes()
    } else {
        local != remote
    }
}

/// The relay-circuit address `<relay addr>/p2p/<relay>/p2p-circuit/p2p/<peer>`.
///
/// `relay_addr` may already end in `/p2p/<relay>`.
pub fn circuit_addr(relay_addr: &Multiaddr, relay: PeerId, peer: PeerId) -> Multiaddr {
    relay_base(relay_addr, relay)
        .with(Protocol::P2pCircuit)
        .with(Protocol::P2p(peer))
}

/// `relay_addr` with a single trailing `/p2p/<relay>`.
pub fn relay_base(relay_addr: &Multiaddr, relay: PeerId) -> Multiaddr {
    let mut base = relay_addr.clone();
    if matches!(base.iter().last(), Some(Protocol::P2p(_))) {
        base.pop();
    }
    base.with(Protocol::P2p(relay))
}

/// Whether our transports (TCP, with DNS) can dial this relay address.
pub fn is_dialable_tcp(addr: &Multiaddr) -> bool {
    let mut it = addr.iter();
    let host_ok = matches!(
        it.next(),
        Some(
            Protocol::Ip4(_)
                | Protocol::Ip6(_)
                | Protocol::Dns(_)
                | Protocol::Dns4(_)
                | Protocol::Dns6(_)
        )
    );
    host_ok
        && matches!(it.next(), Some(Protocol::Tcp(_)))
        && it.all(|p| matches!(p, Protocol::P2p(_)))
}

#[derive(Debug, Default)]
struct Book {
    /// Resolved relays: peer ID -> dialable addresses (ending in /p2p/<relay>).
    relays: BTreeMap<PeerId, Vec<Multiaddr>>,
    /// Direct addresses of cluster peers (e.g. from their ENRs).
    direct: HashMap<PeerId, Vec<Multiaddr>>,
}

/// Shared, mutable address knowledge of the host.
#[derive(Clone, Debug)]
pub struct Addresses {
    local: PeerId,
    compat: Compat,
    cluster: Arc<Vec<PeerId>>,
    book: Arc<RwLock<Book>>,
}

impl Addresses {
    /// Address knowledge for `local` in a cluster of `cluster` peers.
    pub fn new(local: PeerId, cluster: Vec<PeerId>, compat: Compat) -> Self {
        Self {
            local,
            compat,
            cluster: Arc::new(cluster),
            book: Arc::default(),
        }
    }

    fn read<R>(&self, f: impl FnOnce(&Book) -> R) -> R {
        match self.book.read() {
            Ok(b) => f(&b),
            Err(p) => f(&p.into_inner()),
        }
    }

    fn write<R>(&self, f: impl FnOnce(&mut Book) -> R) -> R {
        match self.book.write() {
            Ok(mut b) => f(&mut b),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Records the dialable addresses of a relay.
    pub fn set_relay(&self, relay: PeerId, addrs: Vec<Multiaddr>) {
        let addrs = addrs
            .iter()
            .filter(|a| is_dialable_tcp(a))
            .map(|a| relay_base(a, relay))
            .collect();
        self.write(|b| b.relays.insert(relay, addrs));
    }

    /// Forgets a relay (it changed identity).
    pub fn remove_relay(&self, relay: &PeerId) {
        self.write(|b| b.relays.remove(relay));
    }

    /// The dialable addresses of a relay, each ending in `/p2p/<relay>`.
    pub fn relay_addrs(&self, relay: &PeerId) -> Vec<Multiaddr> {
        self.read(|b| b.relays.get(relay).cloned().unwrap_or_default())
    }

    /// The resolved relays.
    pub fn relays(&self) -> Vec<PeerId> {
        self.read(|b| b.relays.keys().copied().collect())
    }

    /// Sets direct addresses of a cluster peer.
    pub fn set_direct(&self, peer: PeerId, addrs: Vec<Multiaddr>) {
        self.write(|b| b.direct.insert(peer, addrs));
    }

    /// Whether this node is the one that should dial `peer` (relay rule).
    pub fn dials_via_relay(&self, peer: &PeerId) -> bool {
        should_dial_via_relay(&self.local, peer, self.compat)
    }

    /// Whether we know any address we are allowed to dial `peer` on.
    pub fn can_dial(&self, peer: &PeerId) -> bool {
        !self.addresses_for(peer).is_empty()
    }

    /// The addresses to dial `peer` on: its relay's addresses for relays; for
    /// cluster peers, direct addresses, then relay circuits if the rule allows.
    pub fn addresses_for(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.read(|b| {
            if let Some(addrs) = b.relays.get(peer) {
                return addrs.clone();
            }
            if !self.cluster.contains(peer) || *peer == self.local {
                return Vec::new();
            }
            let mut out = b.direct.get(peer).cloned().unwrap_or_default();
            if self.dials_via_relay(peer) {
                // Every address of every relay, as charon does: the first one
                // may be unreachable from here while another works.
                for (relay, addrs) in &b.relays {
                    out.extend(addrs.iter().map(|a| circuit_addr(a, *relay, *peer)));
                }
            }
            out
        })
    }
}

/// Behaviour that hands [`Addresses`] to the swarm when it dials by peer ID.
pub struct AddressBook {
    addrs: Addresses,
}

impl AddressBook {
    /// A behaviour serving `addrs`.
    pub fn new(addrs: Addresses) -> Self {
        Self { addrs }
    }
}

impl AddressBook {
    /// The (inert) handler of every established connection.
    fn handler(&self, _peer: PeerId) -> Result<dummy::ConnectionHandler, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    /// The known addresses of the peer about to be dialed, if it is known.
    fn pending_outbound(
        &self,
        maybe_peer: Option<PeerId>,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        Ok(maybe_peer
            .map(|p| self.addrs.addresses_for(&p))
            .unwrap_or_default())
    }
}

dummy_handler_behaviour!(
    AddressBook,
    handler = handler,
    pending_outbound = pending_outbound
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::identity::EnrPrivateKey;

    #[test]
    fn v1_11_rule_is_antisymmetric_on_raw_bytes() {
        for _ in 0..200 {
            let a = EnrPrivateKey::generate().peer_id().unwrap();
            let b = EnrPrivateKey::generate().peer_id().unwrap();
            let ab = should_dial_via_relay(&a, &b, Compat::V1_11);
            let ba = should_dial_via_relay(&b, &a, Compat::V1_11);
            assert_ne!(ab, ba, "exactly one side dials");
            assert_eq!(ab, a.to_bytes() < b.to_bytes());
            assert!(should_dial_via_relay(&a, &b, Compat::V1_10));
            assert!(should_dial_via_relay(&b, &a, Compat::V1_10));
        }
        let a = EnrPrivateKey::generate().peer_id().unwrap();
        assert!(!should_dial_via_relay(&a, &a, Compat::V1_11));
        assert!(!should_dial_via_relay(&a, &a, Compat::V1_10));
    }

    #[test]
    fn compat_parses() {
        assert_eq!("v1.10".parse::<Compat>().unwrap(), Compat::V1_10);
        assert_eq!("1.11".parse::<Compat>().unwrap(), Compat::V1_11);
        assert!("v1.9".parse::<Compat>().is_err());
    }

    #[test]
    fn addresses_follow_the_rule() {
        let a = EnrPrivateKey::generate().peer_id().unwrap();
        let b = EnrPrivateKey::generate().peer_id().unwrap();
        let (small, large) = if a.to_bytes() < b.to_bytes() {
            (a, b)
        } else {
            (b, a)
        };
        let relay = EnrPrivateKey::generate().peer_id().unwrap();
        let relay_addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/4001/p2p/{relay}")
            .parse()
            .unwrap();
        let relay_addr_first = relay_addr.clone();
        let quic: Multiaddr = format!("/ip4/127.0.0.1/udp/4001/quic-v1/p2p/{relay}")
            .parse()
            .unwrap();

        let at_small = Addresses::new(small, vec![small, large], Compat::V1_11);
        at_small.set_relay(relay, vec![quic.clone(), relay_addr.clone()]);
        assert_eq!(at_small.addresses_for(&relay), vec![relay_addr.clone()]);
        assert_eq!(
            at_small.addresses_for(&large),
            vec![
                format!("/ip4/127.0.0.1/tcp/4001/p2p/{relay}/p2p-circuit/p2p/{large}")
                    .parse::<Multiaddr>()
                    .unwrap()
            ]
        );

        let at_large = Addresses::new(large, vec![small, large], Compat::V1_11);
        at_large.set_relay(relay, vec![relay_addr.clone()]);
        assert!(at_large.addresses_for(&small).is_empty());
        assert!(!at_large.can_dial(&small));
        let direct: Multiaddr = "/ip4/127.0.0.1/tcp/9".parse().unwrap();
        at_large.set_direct(small, vec![direct.clone()]);
        assert_eq!(at_large.addresses_for(&small), vec![direct]);

        let v110 = Addresses::new(large, vec![small, large], Compat::V1_10);
        v110.set_relay(relay, vec![relay_addr]);
        assert_eq!(v110.addresses_for(&small).len(), 1);

        // Circuits go through every address of the relay, not only the first.
        let second: Multiaddr = format!("/ip4/127.0.0.2/tcp/4002/p2p/{relay}")
            .parse()
            .unwrap();
        let two = Addresses::new(small, vec![small, large], Compat::V1_11);
        two.set_relay(relay, vec![relay_addr_first.clone(), second.clone()]);
        assert_eq!(
            two.addresses_for(&large),
            vec![
                circuit_addr(&relay_addr_first, relay, large),
                circuit_addr(&second, relay, large)
            ]
        );
        assert_eq!(two.relay_addrs(&relay), vec![relay_addr_first, second]);

        // Strangers get no addresses.
        assert!(at_small.addresses_for(&PeerId::random()).is_empty());
    }

    #[test]
    fn tcp_dialability() {
        let p = EnrPrivateKey::generate().peer_id().unwrap();
        for ok in [
            "/ip4/1.2.3.4/tcp/1".to_string(),
            "/dns/relay.example/tcp/443".to_string(),
            format!("/ip6/::1/tcp/5/p2p/{p}"),
        ] {
            assert!(is_dialable_tcp(&ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "/ip4/1.2.3.4/udp/1/quic-v1",
            "/ip4/1.2.3.4",
            "/tcp/1",
            "/ip4/1.2.3.4/tcp/1/ws",
        ] {
            assert!(!is_dialable_tcp(&bad.parse().unwrap()), "{bad}");
        }
    }
}
