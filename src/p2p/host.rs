//! The DKG node's libp2p host: TCP + Noise + yamux, identify, ping, a
//! circuit-relay v2 client with reservations on every resolved relay, the
//! cluster gater, and generic streams (`libp2p-stream`).
//!
//! The swarm runs on its own tokio task; [`Host`] is the handle the ceremony
//! uses. Protocol logic stays with the callers: they get raw streams.
//!
//! Lifecycle: [`Host::new`], then register every protocol with
//! [`Host::accept`] (Go peers use identify's protocol list optimistically, so
//! all protocols must be known before the first connection), then
//! [`Host::start`], which listens, resolves relays and starts connecting.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::StreamExt as _;
use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, Stream, StreamProtocol, Swarm, dcutr, identify, noise, ping, relay, tcp,
    yamux,
};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::dial::{AddressBook, Addresses, Compat};
use super::direct::{DirectPaths, PathChange};
use super::gater::{Allowlist, Gater};
use super::identity::{EnrPrivateKey, IdentityError};
use super::relay_http::{
    ClusterHeaders, REFRESH_INTERVAL, RelaySpec, ResolvedRelay, resolve_relay_url,
};

pub use super::inbound::IncomingStreams;

/// Protocol version string announced by identify (go-libp2p's default).
pub const IDENTIFY_PROTOCOL_VERSION: &str = "ipfs/0.1.0";

/// Why a TCP listener could not start: libp2p's own message for an I/O
/// failure is empty, so the user would not learn that the port is taken.
pub(super) fn listen_failure(e: &libp2p::TransportError<std::io::Error>) -> String {
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

#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct NodeBehaviour {
    // Before the gater: the pending-inbound bound applies before the Noise
    // handshake, when the remote is still anonymous.
    limits: libp2p::connection_limits::Behaviour,
    // So that refused peers never reach the other behaviours.
    gater: Gater,
    addresses: AddressBook,
    relay_client: relay::client::Behaviour,
    // Answers and starts DCUtR on circuits, as charon's hole punching does.
    dcutr: Toggle<dcutr::Behaviour>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    /// Outbound streams only; inbound ones go through `inbound`, which never
    /// drops a stream.
    streams: libp2p_stream::Behaviour,
    inbound: super::inbound::Behaviour,
}

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

enum Command {
    Start(oneshot::Sender<Result<(), HostError>>),
    Dial(PeerId),
    Shutdown,
}

/// Handle to a running libp2p host.
pub struct Host {
    local: PeerId,
    peers: Vec<PeerId>,
    control: libp2p_stream::Control,
    inbound: super::inbound::Inbound,
    commands: mpsc::UnboundedSender<Command>,
    connected: watch::Receiver<BTreeSet<PeerId>>,
    relays: watch::Receiver<BTreeSet<PeerId>>,
    reservations: watch::Receiver<BTreeSet<PeerId>>,
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
        let inbound = super::inbound::Inbound::default();
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

/// Exponential retry state for one dial target.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    next: Instant,
    delay: Duration,
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(2);

    fn ready(this: Option<&Self>) -> bool {
        this.is_none_or(|b| Instant::now() >= b.next)
    }

    fn failed(this: Option<Self>) -> Self {
        let delay = this.map_or(Self::MIN, |b| (b.delay * 2).min(Self::MAX));
        Self {
            next: Instant::now() + delay,
            delay,
        }
    }
}

struct Runner {
    swarm: Swarm<NodeBehaviour>,
    local: PeerId,
    peers: Vec<PeerId>,
    allow: Allowlist,
    addresses: Addresses,
    relay_specs: Vec<RelaySpec>,
    headers: ClusterHeaders,
    relay_refresh: Duration,
    tcp_listen: Vec<SocketAddr>,
    external_ip: Option<IpAddr>,
    external_hostname: Option<String>,
    started: bool,
    /// Relay list index -> current identity and addresses.
    resolved: HashMap<usize, ResolvedRelay>,
    /// Relay -> listener holding its circuit reservation.
    relay_listeners: HashMap<PeerId, libp2p::core::transport::ListenerId>,
    relay_backoff: HashMap<PeerId, Backoff>,
    /// Reservation attempts per relay, to rotate through its addresses.
    relay_attempts: HashMap<PeerId, usize>,
    disable_reuseport: bool,
    direct: DirectPaths,
    peer_backoff: HashMap<PeerId, Backoff>,
    connected_tx: watch::Sender<BTreeSet<PeerId>>,
    relays_tx: watch::Sender<BTreeSet<PeerId>>,
    reservations_tx: watch::Sender<BTreeSet<PeerId>>,
    listen_tx: watch::Sender<Vec<Multiaddr>>,
    listen_ids: HashSet<libp2p::core::transport::ListenerId>,
    events: broadcast::Sender<PeerEvent>,
}

impl Runner {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
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

    fn peer_index(&self, peer: &PeerId) -> Option<usize> {
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

    fn dial_peer(&mut self, peer: PeerId) {
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

    fn is_relay_listener(&self, id: &libp2p::core::transport::ListenerId) -> Option<PeerId> {
        self.relay_listeners
            .iter()
            .find(|(_, l)| *l == id)
            .map(|(p, _)| *p)
    }

    fn publish_listen_addrs(&self) {
        let addrs: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
        self.listen_tx.send_replace(addrs);
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<NodeBehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                if let Some(relay) = self.is_relay_listener(&listener_id) {
                    tracing::debug!(%relay, addr = %address, "Relay circuit address");
                } else {
                    tracing::info!(addr = %address, "Listening");
                }
                self.publish_listen_addrs();
            }
            SwarmEvent::ExpiredListenAddr { .. } => self.publish_listen_addrs(),
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Some(relay) = self.is_relay_listener(&listener_id) {
                    // Only a reservation that was granted is news; the failed
                    // attempts while a relay is down are retried quietly.
                    let held = self.reservations_tx.borrow().contains(&relay);
                    match &reason {
                        Ok(()) if held => {
                            tracing::info!(%relay, "Relay reservation closed; will reserve again")
                        }
                        Err(e) if held => {
                            tracing::warn!(%relay, error = %e, "Relay reservation lost; will reserve again")
                        }
                        _ => tracing::debug!(%relay, ?reason, "Relay reservation attempt ended"),
                    }
                    self.relay_listeners.remove(&relay);
                    self.reservations_tx.send_modify(|r| {
                        r.remove(&relay);
                    });
                    let b = Backoff::failed(self.relay_backoff.get(&relay).copied());
                    self.relay_backoff.insert(relay, b);
                }
                self.publish_listen_addrs();
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                tracing::warn!(?listener_id, %error, "Listener error");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if let Some(index) = self.peer_index(&peer_id) {
                    self.peer_backoff.remove(&peer_id);
                    let relayed = is_relayed(&endpoint);
                    if self
                        .direct
                        .on_established(peer_id, relayed, !endpoint.is_dialer())
                        == PathChange::LeftRelay
                    {
                        tracing::info!(
                            peer_index = index,
                            peer = %peer_id,
                            addr = %endpoint.get_remote_address(),
                            "Direct connection to peer: DKG traffic leaves the relay"
                        );
                        let _ = self.events.send(PeerEvent::Direct {
                            peer: peer_id,
                            index,
                        });
                    }
                    if num_established.get() == 1 {
                        self.connected_tx.send_modify(|c| {
                            c.insert(peer_id);
                        });
                        let n = self.connected_tx.borrow().len();
                        let _ = self.events.send(PeerEvent::Connected {
                            peer: peer_id,
                            index,
                            relayed,
                            outbound: endpoint.is_dialer(),
                        });
                        tracing::info!(
                            peer_index = index,
                            peer = %peer_id,
                            relayed,
                            "Connected to peer {n} of {}",
                            self.peers.len().saturating_sub(1)
                        );
                    }
                } else if self.allow.is_relay(&peer_id) && num_established.get() == 1 {
                    tracing::info!(relay = %peer_id, "Connected to relay");
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                endpoint,
                num_established,
                cause,
                ..
            } => {
                if self.peer_index(&peer_id).is_some() {
                    let inbound = !endpoint.is_dialer();
                    self.direct
                        .on_closed(peer_id, is_relayed(&endpoint), inbound);
                }
                if num_established > 0 {
                    return;
                }
                if let Some(index) = self.peer_index(&peer_id) {
                    self.connected_tx.send_modify(|c| {
                        c.remove(&peer_id);
                    });
                    let _ = self.events.send(PeerEvent::Disconnected {
                        peer: peer_id,
                        index,
                    });
                    // Debug here: only the protocol on top (the ceremony's
                    // step) knows whether a peer leaving is expected, and it
                    // logs the warning when it is not.
                    tracing::debug!(
                        peer_index = index,
                        peer = %peer_id,
                        cause = ?cause.map(|c| c.to_string()),
                        "Disconnected from peer"
                    );
                    // Redial at once (charon §10.7): the other side has no
                    // route to us if we are the dialing side.
                    self.peer_backoff.remove(&peer_id);
                    self.dial_peer(peer_id);
                } else if self.allow.is_relay(&peer_id) {
                    tracing::warn!(relay = %peer_id, "Disconnected from relay");
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                if let Some(index) = peer_id.and_then(|p| self.peer_index(&p)) {
                    tracing::debug!(peer_index = index, %error, "Dialing peer failed");
                }
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                tracing::debug!(addr = %send_back_addr, %error, "Inbound connection refused or failed");
            }
            // The reservation counts once the relay accepts it, with or without
            // addresses: go-libp2p relays on private networks send none, and
            // circuits still reach us over the relay connection.
            SwarmEvent::Behaviour(NodeBehaviourEvent::RelayClient(
                relay::client::Event::ReservationReqAccepted {
                    relay_peer_id,
                    renewal,
                    ..
                },
            )) => {
                if !renewal {
                    tracing::info!(relay = %relay_peer_id, "Relay reservation accepted");
                }
                self.relay_backoff.remove(&relay_peer_id);
                self.reservations_tx.send_modify(|r| {
                    r.insert(relay_peer_id);
                });
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::RelayClient(ev)) => {
                tracing::debug!(?ev, "Relay client event");
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if self.peer_index(&peer_id).is_some() => {
                self.direct
                    .on_listen_addrs(peer_id, &info.listen_addrs, Instant::now());
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            })) => {
                // The gater admits cluster peers only.
                let index = self.peer_index(&remote_peer_id).unwrap_or_default();
                match result {
                    Ok(_) => tracing::info!(
                        peer_index = index,
                        peer = %remote_peer_id,
                        "Hole punch succeeded"
                    ),
                    // A failed punch leaves the circuit and the dial of
                    // announced addresses; not worth a warning.
                    Err(e) => tracing::debug!(
                        peer_index = index,
                        peer = %remote_peer_id,
                        error = %e,
                        "Hole punch failed"
                    ),
                }
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(identify::Event::Error {
                peer_id,
                error,
                ..
            })) => {
                tracing::debug!(%peer_id, %error, "Identify failed");
            }
            _ => {}
        }
    }
}

/// Connection bounds: a few per peer (direct and relayed, both directions),
/// room for every cluster peer and some relays in total, and a small number
/// of handshakes in progress, so anonymous dialers cannot make us run
/// unlimited Noise handshakes.
pub fn connection_limits(cluster_size: usize) -> libp2p::connection_limits::ConnectionLimits {
    use super::limits::{MAX_CONNECTIONS_PER_PEER, MAX_PENDING_INCOMING};
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

fn is_relayed(endpoint: &ConnectedPoint) -> bool {
    let circuit = |a: &Multiaddr| a.iter().any(|p| matches!(p, Protocol::P2pCircuit));
    match endpoint {
        ConnectedPoint::Dialer { address, .. } => circuit(address),
        // Inbound circuits carry the circuit in the local (listen) address;
        // the send-back address is just the source peer.
        ConnectedPoint::Listener {
            local_addr,
            send_back_addr,
        } => circuit(local_addr) || circuit(send_back_addr),
    }
}
