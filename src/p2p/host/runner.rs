//! The swarm task: its state, command loop, listening, dialing and relay
//! reservations.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::StreamExt as _;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use super::behaviour::NodeBehaviour;
use super::error::{HostError, listen_failure};
use super::messages::{Command, PeerEvent};
use crate::p2p::dial::Addresses;
use crate::p2p::direct::DirectPaths;
use crate::p2p::gater::Allowlist;
use crate::p2p::relay_http::{ClusterHeaders, RelaySpec, ResolvedRelay, resolve_relay_url};

/// Exponential retry state for one dial target.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backoff {
    next: Instant,
    delay: Duration,
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(2);

    fn ready(this: Option<&Self>) -> bool {
        this.is_none_or(|b| Instant::now() >= b.next)
    }

    pub(super) fn failed(this: Option<Self>) -> Self {
        let delay = this.map_or(Self::MIN, |b| (b.delay * 2).min(Self::MAX));
        Self {
            next: Instant::now() + delay,
            delay,
        }
    }
}

pub(super) struct Runner {
    pub(super) swarm: Swarm<NodeBehaviour>,
    pub(super) local: PeerId,
    pub(super) peers: Vec<PeerId>,
    pub(super) allow: Allowlist,
    pub(super) addresses: Addresses,
    pub(super) relay_specs: Vec<RelaySpec>,
    pub(super) headers: ClusterHeaders,
    pub(super) relay_refresh: Duration,
    pub(super) tcp_listen: Vec<SocketAddr>,
    pub(super) external_ip: Option<IpAddr>,
    pub(super) external_hostname: Option<String>,
    pub(super) started: bool,
    /// Relay list index -> current identity and addresses.
    pub(super) resolved: HashMap<usize, ResolvedRelay>,
    /// Relay -> listener holding its circuit reservation.
    pub(super) relay_listeners: HashMap<PeerId, libp2p::core::transport::ListenerId>,
    pub(super) relay_backoff: HashMap<PeerId, Backoff>,
    /// Reservation attempts per relay, to rotate through its addresses.
    pub(super) relay_attempts: HashMap<PeerId, usize>,
    pub(super) disable_reuseport: bool,
    pub(super) direct: DirectPaths,
    pub(super) peer_backoff: HashMap<PeerId, Backoff>,
    pub(super) connected_tx: watch::Sender<BTreeSet<PeerId>>,
    pub(super) relays_tx: watch::Sender<BTreeSet<PeerId>>,
    pub(super) reservations_tx: watch::Sender<BTreeSet<PeerId>>,
    /// Relay -> bytes per circuit direction its reservation allows (`None`:
    /// no data limit stated).
    pub(super) circuit_limits_tx: watch::Sender<BTreeMap<PeerId, Option<u64>>>,
    pub(super) listen_tx: watch::Sender<Vec<Multiaddr>>,
    pub(super) listen_ids: HashSet<libp2p::core::transport::ListenerId>,
    pub(super) events: broadcast::Sender<PeerEvent>,
}

impl Runner {
    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let (relay_tx, mut relay_rx) = mpsc::channel::<ResolvedRelay>(16);
        let mut relay_tx = Some(relay_tx);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                cmd = commands.recv() => match cmd {
                    Some(Command::Start(done)) => {
                        let res = self.start(relay_tx.take());
                        let _ = done.send(res);
                    }
                    Some(Command::Dial(peer)) => self.dial_peer(peer),
                    Some(Command::Shutdown) | None => break,
                },
                Some(update) = relay_rx.recv() => self.on_relay(update),
                _ = tick.tick() => self.maintain(),
            }
        }
        // Dropping the swarm closes every connection; resolvers stop when
        // their channel closes.
        tracing::debug!("p2p host stopped");
    }

    fn start(&mut self, relay_tx: Option<mpsc::Sender<ResolvedRelay>>) -> Result<(), HostError> {
        if self.started {
            return Ok(());
        }
        for sa in &self.tcp_listen {
            let addr = Multiaddr::from(sa.ip()).with(Protocol::Tcp(sa.port()));
            let id = self
                .swarm
                .listen_on(addr.clone())
                .map_err(|e| HostError::Listen {
                    addr: addr.clone(),
                    reason: listen_failure(&e),
                })?;
            self.listen_ids.insert(id);
            if let Some(ip) = self.external_ip {
                self.swarm
                    .add_external_address(Multiaddr::from(ip).with(Protocol::Tcp(sa.port())));
            }
            if let Some(host) = &self.external_hostname {
                self.swarm.add_external_address(
                    Multiaddr::empty()
                        .with(Protocol::Dns(host.clone().into()))
                        .with(Protocol::Tcp(sa.port())),
                );
            }
        }
        if let Some(tx) = relay_tx {
            for (index, spec) in self.relay_specs.clone().into_iter().enumerate() {
                match spec {
                    RelaySpec::Addr { peer, addr } => self.on_relay(ResolvedRelay {
                        index,
                        peer,
                        addrs: vec![addr],
                    }),
                    RelaySpec::Url(url) => {
                        tokio::spawn(resolve_relay_url(
                            index,
                            url,
                            self.headers.clone(),
                            self.relay_refresh,
                            tx.clone(),
                        ));
                    }
                }
            }
        }
        self.started = true;
        self.maintain();
        Ok(())
    }

    pub(super) fn peer_index(&self, peer: &PeerId) -> Option<usize> {
        self.peers.iter().position(|p| p == peer)
    }

    fn on_relay(&mut self, update: ResolvedRelay) {
        if let Some(old) = self.resolved.get(&update.index)
            && old.peer != update.peer
        {
            tracing::info!(old = %old.peer, new = %update.peer, "Relay changed identity");
            let old_peer = old.peer;
            self.allow.remove_relay(&old_peer);
            self.addresses.remove_relay(&old_peer);
            if let Some(id) = self.relay_listeners.remove(&old_peer) {
                self.swarm.remove_listener(id);
            }
            let _ = self.swarm.disconnect_peer_id(old_peer);
        }
        self.allow.add_relay(update.peer);
        self.addresses.set_relay(update.peer, update.addrs.clone());
        if self.addresses.relay_addrs(&update.peer).is_empty() {
            tracing::warn!(relay = %update.peer, addrs = ?update.addrs, "Relay has no TCP address this node can dial");
        }
        self.relay_backoff.remove(&update.peer);
        self.resolved.insert(update.index, update);
        let relays: BTreeSet<PeerId> = self.resolved.values().map(|r| r.peer).collect();
        self.relays_tx.send_replace(relays);
        self.maintain();
    }

    /// Keeps reservations on all relays and connections to the peers we dial.
    fn maintain(&mut self) {
        if !self.started {
            return;
        }
        for relay in self.addresses.relays() {
            if self.relay_listeners.contains_key(&relay)
                || !Backoff::ready(self.relay_backoff.get(&relay))
            {
                continue;
            }
            // Reserve through each of the relay's addresses in turn, moving on
            // after every failed attempt, so one dead address cannot pin us.
            let addrs = self.addresses.relay_addrs(&relay);
            if addrs.is_empty() {
                continue;
            }
            let attempt = self.relay_attempts.entry(relay).or_insert(0);
            let addr = addrs[*attempt % addrs.len()].clone();
            *attempt += 1;
            let circuit = addr.with(Protocol::P2pCircuit);
            match self.swarm.listen_on(circuit.clone()) {
                Ok(id) => {
                    tracing::debug!(%relay, addr = %circuit, "Requesting relay reservation");
                    self.relay_listeners.insert(relay, id);
                }
                Err(e) => {
                    tracing::warn!(%relay, error = %e, "Relay reservation request failed");
                    let b = Backoff::failed(self.relay_backoff.get(&relay).copied());
                    self.relay_backoff.insert(relay, b);
                }
            }
        }
        for (peer, addrs) in self.direct.take_due(Instant::now()) {
            tracing::debug!(%peer, ?addrs, "Dialing peer directly at the addresses it announced");
            let mut opts = DialOpts::peer_id(peer)
                .addresses(addrs)
                .condition(PeerCondition::Always);
            if self.disable_reuseport {
                opts = opts.allocate_new_port();
            }
            if let Err(e) = self.swarm.dial(opts.build()) {
                tracing::debug!(%peer, error = %e, "Direct dial not started");
            }
        }
        let connected = self.connected_tx.borrow().clone();
        for peer in self.peers.clone() {
            if peer != self.local
                && !connected.contains(&peer)
                && Backoff::ready(self.peer_backoff.get(&peer))
            {
                self.dial_peer(peer);
            }
        }
    }

    pub(super) fn dial_peer(&mut self, peer: PeerId) {
        if !self.started || peer == self.local || !self.addresses.can_dial(&peer) {
            return;
        }
        if self.swarm.is_connected(&peer) {
            return;
        }
        let mut opts = DialOpts::peer_id(peer).condition(PeerCondition::DisconnectedAndNotDialing);
        if self.disable_reuseport {
            opts = opts.allocate_new_port();
        }
        let opts = opts.build();
        // Arm the backoff now; a success clears it.
        let b = Backoff::failed(self.peer_backoff.get(&peer).copied());
        self.peer_backoff.insert(peer, b);
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%peer, error = %e, "Dial not started");
        }
    }

    pub(super) fn is_relay_listener(
        &self,
        id: &libp2p::core::transport::ListenerId,
    ) -> Option<PeerId> {
        self.relay_listeners
            .iter()
            .find(|(_, l)| *l == id)
            .map(|(p, _)| *p)
    }

    pub(super) fn publish_listen_addrs(&self) {
        let addrs: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
        self.listen_tx.send_replace(addrs);
    }
}
