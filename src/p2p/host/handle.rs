//! The handle the ceremony holds to a running host.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol, dcutr, identify, noise, ping, tcp, yamux};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::behaviour::{IDENTIFY_PROTOCOL_VERSION, NodeBehaviour, connection_limits};
use super::config::HostConfig;
use super::error::{HostError, OpenTimeout};
use super::messages::{Command, PeerEvent};
use super::runner::Runner;
use crate::p2p::dial::{AddressBook, Addresses};
use crate::p2p::direct::DirectPaths;
use crate::p2p::gater::{Allowlist, Gater};
use crate::p2p::inbound::IncomingStreams;

/// Handle to a running libp2p host.
pub struct Host {
    local: PeerId,
    peers: Vec<PeerId>,
    control: libp2p_stream::Control,
    inbound: crate::p2p::inbound::Inbound,
    commands: mpsc::UnboundedSender<Command>,
    connected: watch::Receiver<BTreeSet<PeerId>>,
    relays: watch::Receiver<BTreeSet<PeerId>>,
    reservations: watch::Receiver<BTreeSet<PeerId>>,
    circuit_limits: watch::Receiver<BTreeMap<PeerId, Option<u64>>>,
    listen_addrs: watch::Receiver<Vec<Multiaddr>>,
    events: broadcast::Sender<PeerEvent>,
    addresses: Addresses,
    relay_resolve_timeout: Duration,
    has_relays: bool,
    open_timeout: Duration,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Host {
    /// Builds the swarm and spawns its task (must run inside a tokio runtime).
    /// Nothing is listened on or dialed until [`Host::start`].
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        let keypair = config.key.to_keypair()?;
        let local = keypair.public().to_peer_id();
        if !config.peers.contains(&local) {
            return Err(HostError::NotInCluster(local));
        }
        let allow = Allowlist::new(config.peers.iter().copied().filter(|p| *p != local));
        let addresses = Addresses::new(local, config.peers.clone(), config.compat);
        for (peer, addrs) in &config.direct_addrs {
            if !config.relay_only {
                addresses.set_direct(*peer, addrs.clone());
            }
        }
        let dcutr = (!config.relay_only).then(|| dcutr::Behaviour::new(local));
        let build_err = |e: &dyn std::fmt::Display| HostError::Build(e.to_string());
        let mut identify_cfg =
            identify::Config::new(IDENTIFY_PROTOCOL_VERSION.into(), keypair.public())
                .with_agent_version(config.agent_version.clone());
        if config.relay_only {
            // identify hands the listen addresses it learned to every dial
            // by peer id; relay-only dials must find circuits only.
            identify_cfg = identify_cfg.with_cache_size(0);
        }
        let (gater_allow, book) = (allow.clone(), addresses.clone());
        let inbound = crate::p2p::inbound::Inbound::default();
        let inbound_behaviour = inbound.behaviour();
        let connection_limits = connection_limits(config.peers.len());
        let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| build_err(&e))?
            .with_dns()
            .map_err(|e| build_err(&e))?
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|e| build_err(&e))?
            .with_behaviour(move |_key, relay_client| NodeBehaviour {
                limits: libp2p::connection_limits::Behaviour::new(connection_limits),
                gater: Gater::new(gater_allow),
                addresses: AddressBook::new(book),
                relay_client,
                dcutr: Toggle::from(dcutr),
                identify: identify::Behaviour::new(identify_cfg),
                // go-libp2p closes a ping stream idle for 10 s; ping inside that.
                ping: ping::Behaviour::new(
                    ping::Config::new().with_interval(Duration::from_secs(5)),
                ),
                streams: libp2p_stream::Behaviour::new(),
                inbound: inbound_behaviour,
            })
            .map_err(|e| build_err(&e))?
            // Connections carry one-shot DKG streams with pauses between
            // steps; keep them instead of tearing them down when idle.
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
            .build();

        let control = swarm.behaviour().streams.new_control();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (connected_tx, connected) = watch::channel(BTreeSet::new());
        let (relays_tx, relays) = watch::channel(BTreeSet::new());
        let (reservations_tx, reservations) = watch::channel(BTreeSet::new());
        let (circuit_limits_tx, circuit_limits) = watch::channel(BTreeMap::new());
        let (listen_tx, listen_addrs) = watch::channel(Vec::new());
        let (events, _) = broadcast::channel(256);
        let runner = Runner {
            swarm,
            local,
            peers: config.peers.clone(),
            allow,
            addresses: addresses.clone(),
            relay_specs: config.relays.clone(),
            headers: config.cluster_headers.clone(),
            relay_refresh: config.relay_refresh,
            tcp_listen: config.tcp_listen.clone(),
            external_ip: config.external_ip,
            external_hostname: config.external_hostname.clone(),
            started: false,
            resolved: HashMap::new(),
            relay_listeners: HashMap::new(),
            relay_backoff: HashMap::new(),
            relay_attempts: HashMap::new(),
            disable_reuseport: config.disable_reuseport,
            direct: DirectPaths::new(local, !config.relay_only),
            peer_backoff: HashMap::new(),
            connected_tx,
            relays_tx,
            reservations_tx,
            circuit_limits_tx,
            listen_tx,
            listen_ids: HashSet::new(),
            events: events.clone(),
        };
        let task = tokio::spawn(runner.run(cmd_rx));
        Ok(Self {
            local,
            peers: config.peers,
            control,
            inbound,
            commands: cmd_tx,
            connected,
            relays,
            reservations,
            circuit_limits,
            listen_addrs,
            events,
            addresses,
            relay_resolve_timeout: config.relay_resolve_timeout,
            has_relays: !config.relays.is_empty(),
            open_timeout: config.open_timeout,
            task: tokio::sync::Mutex::new(Some(task)),
        })
    }

    /// This node's peer ID.
    pub fn local_peer_id(&self) -> PeerId {
        self.local
    }

    /// Registers an inbound protocol and returns its stream of `(peer, stream)`.
    pub fn accept(&self, protocol: &str) -> Result<IncomingStreams, HostError> {
        let proto = parse_protocol(protocol)?;
        self.inbound
            .accept(proto)
            .map_err(|_| HostError::AlreadyAccepting(protocol.into()))
    }

    /// Starts listening, relay resolution and reservations, and connecting to
    /// peers. With relays configured, waits until at least one relay resolved
    /// (charon waits up to one minute) and fails otherwise.
    pub async fn start(&self) -> Result<(), HostError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Start(tx))
            .map_err(|_| HostError::Stopped)?;
        rx.await.map_err(|_| HostError::Stopped)??;
        if self.has_relays {
            let mut relays = self.relays.clone();
            tokio::time::timeout(
                self.relay_resolve_timeout,
                relays.wait_for(|r| !r.is_empty()),
            )
            .await
            .map_err(|_| HostError::RelayTimeout(self.relay_resolve_timeout))?
            .map_err(|_| HostError::Stopped)?;
        }
        Ok(())
    }

    /// Opens a stream to a cluster peer within the configured open timeout.
    pub async fn open_stream(&self, peer: PeerId, protocol: &str) -> Result<Stream, HostError> {
        self.open_stream_within(peer, protocol, self.open_timeout)
            .await
    }

    /// Opens a stream to a cluster peer, waiting for (and where the dial rule
    /// allows, initiating) a connection, and retrying failed negotiations
    /// (for example after a relay circuit reset) until `timeout` elapses.
    pub async fn open_stream_within(
        &self,
        peer: PeerId,
        protocol: &str,
        timeout: Duration,
    ) -> Result<Stream, HostError> {
        let proto = parse_protocol(protocol)?;
        let peer_index = self
            .peers
            .iter()
            .position(|p| *p == peer)
            .filter(|_| peer != self.local)
            .ok_or(HostError::UnknownPeer(peer))?;
        let deadline = Instant::now() + timeout;
        let mut backoff = Duration::from_millis(50);
        let mut last_error = String::from("not connected");
        let timed_out = |last_error: String| {
            HostError::OpenTimeout(Box::new(OpenTimeout {
                peer,
                peer_index,
                protocol: protocol.into(),
                timeout,
                last_error,
            }))
        };
        loop {
            if !self.connected.borrow().contains(&peer) {
                if self.addresses.can_dial(&peer) {
                    self.commands
                        .send(Command::Dial(peer))
                        .map_err(|_| HostError::Stopped)?;
                }
                let mut connected = self.connected.clone();
                match tokio::time::timeout_at(deadline, connected.wait_for(|c| c.contains(&peer)))
                    .await
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => return Err(HostError::Stopped),
                    Err(_) => return Err(timed_out(last_error)),
                }
            }
            let mut control = self.control.clone();
            match tokio::time::timeout_at(deadline, control.open_stream(peer, proto.clone())).await
            {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(e)) => {
                    tracing::debug!(peer_index, %peer, protocol, error = %e, "Opening stream failed, retrying");
                    last_error = e.to_string();
                }
                Err(_) => return Err(timed_out(last_error)),
            }
            if Instant::now() + backoff >= deadline {
                return Err(timed_out(last_error));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// The cluster peers currently connected (directly or through a relay).
    pub fn connected_peers(&self) -> BTreeSet<PeerId> {
        self.connected.borrow().clone()
    }

    /// A watch of the connected cluster peers, for progress logs and barriers.
    pub fn watch_connected(&self) -> watch::Receiver<BTreeSet<PeerId>> {
        self.connected.clone()
    }

    /// Subscribes to peer connect/disconnect events (from now on).
    pub fn subscribe_events(&self) -> broadcast::Receiver<PeerEvent> {
        self.events.subscribe()
    }

    /// Waits until every other cluster peer is connected, or `timeout`.
    pub async fn wait_all_connected(&self, timeout: Duration) -> Result<(), HostError> {
        let others: BTreeSet<PeerId> = self
            .peers
            .iter()
            .copied()
            .filter(|p| *p != self.local)
            .collect();
        let mut rx = self.connected.clone();
        match tokio::time::timeout(timeout, rx.wait_for(|c| others.is_subset(c))).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(HostError::Stopped),
            Err(_) => Err(HostError::ConnectTimeout {
                missing: self.missing_peers(),
                timeout,
            }),
        }
    }

    /// Operator indices of cluster peers not connected right now.
    pub fn missing_peers(&self) -> Vec<usize> {
        let connected = self.connected.borrow();
        self.peers
            .iter()
            .enumerate()
            .filter(|(_, p)| **p != self.local && !connected.contains(p))
            .map(|(i, _)| i)
            .collect()
    }

    /// A watch of the relays on which a circuit reservation is active.
    pub fn watch_reservations(&self) -> watch::Receiver<BTreeSet<PeerId>> {
        self.reservations.clone()
    }

    /// The data limit (bytes per circuit direction, `None` if unstated) of
    /// every relay that has accepted a reservation: what a relay-only
    /// ceremony can push through one circuit.
    pub fn circuit_limits(&self) -> BTreeMap<PeerId, Option<u64>> {
        self.circuit_limits.borrow().clone()
    }

    /// The local listen addresses (including relay circuit addresses).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listen_addrs.borrow().clone()
    }

    /// A watch of the local listen addresses.
    pub fn watch_listen_addrs(&self) -> watch::Receiver<Vec<Multiaddr>> {
        self.listen_addrs.clone()
    }

    /// Stops the swarm (closing all connections) and waits for its task.
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(task) = self.task.lock().await.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
    }
}

fn parse_protocol(protocol: &str) -> Result<StreamProtocol, HostError> {
    StreamProtocol::try_from_owned(protocol.to_owned())
        .map_err(|_| HostError::InvalidProtocol(protocol.into()))
}
