//! Leaving the relay. Peers usually first meet through a relay circuit (the
//! definition's ENRs rarely carry addresses), and charon's relay limits each
//! circuit's bytes, so bulk DKG traffic must move to a direct connection as
//! soon as one exists. Two ways lead there: the peer's listen addresses,
//! learned through identify over the circuit, dialed directly (what Go's hole
//! punch service also tries first), and DCUtR hole punching (libp2p's `dcutr`
//! behaviour in the host), which Go peers start on inbound circuits.
//!
//! This module only keeps the bookkeeping: which peers have a direct
//! connection and which learned addresses are due for a dial.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tokio::time::Instant;

/// Learned addresses dialed per peer at most: a peer's identify message is
/// its own claim, so it cannot make us dial more than this.
pub const MAX_LEARNED_ADDRS: usize = 8;
/// Dial attempts per peer while it has no direct connection.
const MAX_ATTEMPTS: u32 = 3;
/// On a circuit the peer dialed to us, DCUtR starts at once (we are its
/// initiator, as on Go's side); dialing the learned addresses waits this long
/// so that a hole punch, which the peer's side also expects, goes first.
const INBOUND_DELAY: Duration = Duration::from_secs(3);
/// On a circuit we dialed, the peer is the one to start DCUtR (Go only does
/// so when it has public addresses); the learned addresses are dialed after
/// this long if no direct connection came of it.
const OUTBOUND_DELAY: Duration = Duration::from_secs(10);

/// Direct and relayed connection counts per peer, and scheduled direct dials.
#[derive(Debug)]
pub struct DirectPaths {
    local: PeerId,
    enabled: bool,
    direct: HashMap<PeerId, usize>,
    /// Relayed connections per peer: (inbound, outbound).
    relayed: HashMap<PeerId, (usize, usize)>,
    due: HashMap<PeerId, (Instant, Vec<Multiaddr>)>,
    attempts: HashMap<PeerId, u32>,
    /// Peers whose hole punch failed: their addresses need not wait for it.
    punch_failed: HashSet<PeerId>,
}

/// What a new connection changed.
#[derive(Debug, PartialEq, Eq)]
pub enum PathChange {
    /// Nothing worth telling the user.
    None,
    /// The peer, reached through a relay so far, now has a direct connection.
    LeftRelay,
}

impl DirectPaths {
    /// Bookkeeping for `local`; with `enabled` false no direct dial is ever
    /// scheduled (relay-only operation).
    pub fn new(local: PeerId, enabled: bool) -> Self {
        Self {
            local,
            enabled,
            direct: HashMap::new(),
            relayed: HashMap::new(),
            due: HashMap::new(),
            attempts: HashMap::new(),
            punch_failed: HashSet::new(),
        }
    }

    /// Whether direct dials may be made at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether `peer` has at least one direct connection.
    pub fn has_direct(&self, peer: &PeerId) -> bool {
        self.direct.get(peer).is_some_and(|n| *n > 0)
    }

    /// Records a new connection to a cluster peer (`inbound`: the peer dialed).
    pub fn on_established(&mut self, peer: PeerId, relayed: bool, inbound: bool) -> PathChange {
        if relayed {
            let r = self.relayed.entry(peer).or_default();
            if inbound {
                r.0 += 1;
            } else {
                r.1 += 1;
            }
            return PathChange::None;
        }
        let first_direct = !self.has_direct(&peer);
        *self.direct.entry(peer).or_default() += 1;
        self.due.remove(&peer);
        self.attempts.remove(&peer);
        if first_direct && self.relayed.contains_key(&peer) {
            PathChange::LeftRelay
        } else {
            PathChange::None
        }
    }

    /// Records a closed connection to a cluster peer.
    pub fn on_closed(&mut self, peer: PeerId, relayed: bool, inbound: bool) {
        if relayed {
            if let Some(r) = self.relayed.get_mut(&peer) {
                let n = if inbound { &mut r.0 } else { &mut r.1 };
                *n = n.saturating_sub(1);
                if *r == (0, 0) {
                    self.relayed.remove(&peer);
                }
            }
        } else if let Some(n) = self.direct.get_mut(&peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.direct.remove(&peer);
            }
        }
    }

    /// The peer told us its listen addresses (identify). When it has no
    /// direct connection yet, schedules a dial of the usable ones.
    pub fn on_listen_addrs(&mut self, peer: PeerId, addrs: &[Multiaddr], now: Instant) {
        if !self.enabled || peer == self.local || self.has_direct(&peer) {
            return;
        }
        if self.attempts.get(&peer).copied().unwrap_or(0) >= MAX_ATTEMPTS {
            return;
        }
        let addrs = dialable(addrs);
        if addrs.is_empty() {
            return;
        }
        let inbound = self.relayed.get(&peer).is_some_and(|r| r.0 > 0);
        let at = if self.punch_failed.contains(&peer) {
            now
        } else if inbound {
            now + INBOUND_DELAY
        } else {
            now + OUTBOUND_DELAY
        };
        // A repeated announcement replaces the addresses, not the deadline.
        let at = self.due.get(&peer).map_or(at, |(t, _)| (*t).min(at));
        self.due.insert(peer, (at, addrs));
    }

    /// A hole punch with `peer` failed: its announced addresses are dialed
    /// now, not after the delay that let the punch go first (a short
    /// ceremony could otherwise end on the relay).
    pub fn on_punch_failed(&mut self, peer: PeerId, now: Instant) {
        self.punch_failed.insert(peer);
        if let Some((at, _)) = self.due.get_mut(&peer) {
            *at = (*at).min(now);
        }
    }

    /// The dials due by `now` for peers still without a direct connection;
    /// each counts as an attempt.
    pub fn take_due(&mut self, now: Instant) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let ready: Vec<PeerId> = self
            .due
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(p, _)| *p)
            .collect();
        let mut out = Vec::new();
        for peer in ready {
            let Some((_, addrs)) = self.due.remove(&peer) else {
                continue;
            };
            if self.has_direct(&peer) {
                continue;
            }
            *self.attempts.entry(peer).or_default() += 1;
            out.push((peer, addrs));
        }
        out
    }
}

/// The addresses worth a direct dial: plain TCP over IP or DNS, not relay
/// circuits, not unspecified, at most [`MAX_LEARNED_ADDRS`], without
/// duplicates.
pub fn dialable(addrs: &[Multiaddr]) -> Vec<Multiaddr> {
    let mut out: Vec<Multiaddr> = Vec::new();
    for a in addrs {
        if out.len() >= MAX_LEARNED_ADDRS {
            break;
        }
        let mut it = a.iter();
        let host_ok = match it.next() {
            Some(Protocol::Ip4(ip)) => !ip.is_unspecified() && !ip.is_multicast(),
            Some(Protocol::Ip6(ip)) => !ip.is_unspecified() && !ip.is_multicast(),
            Some(Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_)) => true,
            _ => false,
        };
        let tcp_ok = matches!(it.next(), Some(Protocol::Tcp(p)) if p != 0);
        let rest_ok = it.all(|p| matches!(p, Protocol::P2p(_)));
        if !(host_ok && tcp_ok && rest_ok) {
            continue;
        }
        // Dial without the /p2p suffix: the dial names the peer already.
        let plain: Multiaddr = a
            .iter()
            .filter(|p| !matches!(p, Protocol::P2p(_)))
            .collect();
        if !out.contains(&plain) {
            out.push(plain);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> PeerId {
        libp2p::identity::Keypair::generate_secp256k1()
            .public()
            .to_peer_id()
    }

    fn ma(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_plain_tcp_addresses_are_dialed() {
        let p = peer();
        let addrs = vec![
            ma("/ip4/127.0.0.1/tcp/3610"),
            ma(&format!("/ip4/127.0.0.1/tcp/3610/p2p/{p}")),
            ma("/ip4/0.0.0.0/tcp/3610"),
            ma("/ip4/10.0.0.1/tcp/0"),
            ma("/ip4/10.0.0.1/udp/3630/quic-v1"),
            ma(&format!("/ip4/1.2.3.4/tcp/3610/p2p/{p}/p2p-circuit")),
            ma("/dns/node.example/tcp/3610"),
            ma("/ip6/::1/tcp/3610"),
        ];
        assert_eq!(
            dialable(&addrs),
            vec![
                ma("/ip4/127.0.0.1/tcp/3610"),
                ma("/dns/node.example/tcp/3610"),
                ma("/ip6/::1/tcp/3610"),
            ]
        );
        let many: Vec<Multiaddr> = (1..100)
            .map(|i| ma(&format!("/ip4/10.0.0.{i}/tcp/1")))
            .collect();
        assert_eq!(dialable(&many).len(), MAX_LEARNED_ADDRS);
    }

    #[test]
    fn an_inbound_circuit_dials_soon_an_outbound_one_later_and_never_once_direct() {
        let (me, other) = (peer(), peer());
        let addrs = [ma("/ip4/127.0.0.1/tcp/1000")];
        let now = Instant::now();

        let mut d = DirectPaths::new(me, true);
        assert_eq!(d.on_established(other, true, true), PathChange::None);
        d.on_listen_addrs(other, &addrs, now);
        assert!(d.take_due(now).is_empty(), "DCUtR goes first");
        assert_eq!(
            d.take_due(now + INBOUND_DELAY),
            vec![(other, addrs.to_vec())]
        );
        assert_eq!(d.on_established(other, false, false), PathChange::LeftRelay);
        assert_eq!(d.on_established(other, false, true), PathChange::None);
        d.on_listen_addrs(other, &addrs, now);
        assert!(
            d.take_due(now + OUTBOUND_DELAY).is_empty(),
            "already direct"
        );

        let mut out = DirectPaths::new(me, true);
        out.on_established(other, true, false);
        out.on_listen_addrs(other, &addrs, now);
        assert!(out.take_due(now + INBOUND_DELAY).is_empty());
        assert_eq!(out.take_due(now + OUTBOUND_DELAY).len(), 1);

        // Every direct connection closes: dials may be scheduled again.
        d.on_closed(other, false, false);
        assert!(d.has_direct(&other));
        d.on_closed(other, false, true);
        assert!(!d.has_direct(&other));
        d.on_listen_addrs(other, &addrs, now);
        assert_eq!(d.take_due(now + INBOUND_DELAY).len(), 1);
        // Circuits gone too: a new direct connection is not "leaving" a relay.
        d.on_closed(other, true, true);
        assert_eq!(d.on_established(other, false, false), PathChange::None);
    }

    #[test]
    fn a_failed_hole_punch_dials_the_announced_addresses_at_once() {
        let (me, other, third) = (peer(), peer(), peer());
        let addrs = [ma("/ip4/127.0.0.1/tcp/1000")];
        let now = Instant::now();
        let mut d = DirectPaths::new(me, true);
        d.on_established(other, true, true);
        d.on_listen_addrs(other, &addrs, now);
        assert!(d.take_due(now).is_empty(), "DCUtR goes first");
        d.on_punch_failed(other, now);
        assert_eq!(d.take_due(now), vec![(other, addrs.to_vec())]);
        // Addresses announced after the failure are not held back either.
        d.on_established(third, true, true);
        d.on_punch_failed(third, now);
        d.on_listen_addrs(third, &addrs, now);
        assert_eq!(d.take_due(now), vec![(third, addrs.to_vec())]);
        // Relay-only nodes still never dial.
        let mut off = DirectPaths::new(me, false);
        off.on_punch_failed(other, now);
        off.on_listen_addrs(other, &addrs, now);
        assert!(off.take_due(now).is_empty());
    }

    #[test]
    fn attempts_are_bounded_and_relay_only_never_dials() {
        let (me, other) = (peer(), peer());
        let addrs = [ma("/ip4/127.0.0.1/tcp/1000")];
        let now = Instant::now();
        let later = now + OUTBOUND_DELAY;
        let mut d = DirectPaths::new(me, true);
        let mut dials = 0;
        for _ in 0..10 {
            d.on_listen_addrs(other, &addrs, now);
            dials += d.take_due(later).len();
        }
        assert_eq!(dials, MAX_ATTEMPTS as usize);

        let mut off = DirectPaths::new(me, false);
        off.on_listen_addrs(other, &addrs, now);
        assert!(off.take_due(later).is_empty());
    }
}
