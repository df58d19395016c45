//! A circuit-relay v2 server for self-hosted and local clusters, with the
//! HTTP endpoint charon nodes query (`/` multiaddrs, `/enr`), mirroring
//! charon's `relay` command (`cmd/relay`). Limits follow charon's relay:
//! 32 MiB and one hour per circuit, generous reservation counts, no rate
//! limits (a DKG opens many circuits from few IPs at once).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt as _;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, noise, ping, relay, tcp, yamux};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::host::IDENTIFY_PROTOCOL_VERSION;
use super::identity::{EnrPrivateKey, IdentityError};
use super::relay_http::{RelayHttpState, router};

/// Bytes a circuit may carry before the relay resets it. charon's relay
/// allows 32 MiB in each direction; rust-libp2p counts both directions
/// together, hence twice that.
pub const MAX_CIRCUIT_BYTES: u64 = 64 << 20;
/// Lifetime of a circuit before the relay resets it.
pub const MAX_CIRCUIT_DURATION: Duration = Duration::from_secs(3600);

/// Errors of the relay server.
#[derive(Debug, thiserror::Error)]
pub enum RelayServerError {
    /// The identity key could not be used.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// No TCP listen address was given.
    #[error("p2p TCP address required (--p2p-tcp-address)")]
    NoTcpAddress,
    /// The libp2p stack could not be built.
    #[error("build relay libp2p node: {0}")]
    Build(String),
    /// A listen address could not be bound.
    #[error("listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// Why it failed.
        reason: String,
    },
    /// The HTTP server failed.
    #[error("relay http server on {addr}: {reason}")]
    Http {
        /// The address.
        addr: String,
        /// Why it failed.
        reason: String,
    },
}

/// Configuration of a relay server.
#[derive(Debug, Clone)]
pub struct RelayServerConfig {
    /// The relay's identity key.
    pub key: EnrPrivateKey,
    /// TCP listen addresses for libp2p.
    pub tcp_listen: Vec<SocketAddr>,
    /// HTTP listen address for the multiaddr/ENR endpoint; `None` disables it.
    pub http_addr: Option<SocketAddr>,
    /// `--p2p-external-ip`: advertised with the TCP listen ports.
    pub external_ip: Option<IpAddr>,
    /// `--p2p-external-hostname`: advertised as `/dns/<host>/tcp/<port>`.
    pub external_hostname: Option<String>,
    /// Advertise private (and loopback) listen addresses too.
    pub advertise_private: bool,
    /// Maximum reservations overall (`--p2p-max-connections`).
    pub max_reservations: usize,
    /// Maximum reservations and circuits per peer (`--p2p-max-reservations`).
    pub max_per_peer: usize,
}

impl RelayServerConfig {
    /// Defaults of charon's relay for the given key and listen address.
    pub fn new(key: EnrPrivateKey, tcp_listen: Vec<SocketAddr>) -> Self {
        Self {
            key,
            tcp_listen,
            http_addr: None,
            external_ip: None,
            external_hostname: None,
            advertise_private: false,
            max_reservations: 16384,
            max_per_peer: 512,
        }
    }
}

#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct RelayBehaviour {
    relay: relay::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// A running relay server.
pub struct RelayServer {
    peer: PeerId,
    http_addr: Option<SocketAddr>,
    advertised: Arc<RwLock<Vec<Multiaddr>>>,
    listen: watch::Receiver<Vec<Multiaddr>>,
    stop: Option<oneshot::Sender<()>>,
    swarm_task: Option<JoinHandle<()>>,
    http_task: Option<JoinHandle<Result<(), RelayServerError>>>,
}

impl RelayServer {
    /// Binds the libp2p and HTTP listeners and serves until shut down.
    /// Returns once every TCP listener reported its address.
    pub async fn start(config: RelayServerConfig) -> Result<Self, RelayServerError> {
        if config.tcp_listen.is_empty() {
            return Err(RelayServerError::NoTcpAddress);
        }
        let keypair = config.key.to_keypair()?;
        let peer = keypair.public().to_peer_id();
        let relay_cfg = relay::Config {
            max_reservations: config.max_reservations,
            max_reservations_per_peer: config.max_per_peer,
            reservation_duration: Duration::from_secs(3600),
            reservation_rate_limiters: Vec::new(),
            max_circuits: config.max_reservations,
            max_circuits_per_peer: config.max_per_peer,
            max_circuit_duration: MAX_CIRCUIT_DURATION,
            max_circuit_bytes: MAX_CIRCUIT_BYTES,
            circuit_src_rate_limiters: Vec::new(),
        };
        let identify_cfg =
            identify::Config::new(IDENTIFY_PROTOCOL_VERSION.into(), keypair.public())
                .with_agent_version(format!("charon-dkg-sidecar/{}", env!("CARGO_PKG_VERSION")));
        let build_err = |e: &dyn std::fmt::Display| RelayServerError::Build(e.to_string());
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| build_err(&e))?
            .with_dns()
            .map_err(|e| build_err(&e))?
            .with_behaviour(move |_key| RelayBehaviour {
                relay: relay::Behaviour::new(peer, relay_cfg),
                identify: identify::Behaviour::new(identify_cfg),
                ping: ping::Behaviour::default(),
            })
            .map_err(|e| build_err(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
            .build();
        // Serve reservations even before any address is confirmed externally.
        swarm
            .behaviour_mut()
            .relay
            .set_status(Some(relay::Status::Enable));

        let mut external = Vec::new();
        for sa in &config.tcp_listen {
            let addr = Multiaddr::from(sa.ip()).with(Protocol::Tcp(sa.port()));
            swarm
                .listen_on(addr.clone())
                .map_err(|e| RelayServerError::Listen {
                    addr: addr.to_string(),
                    reason: super::host::listen_failure(&e),
                })?;
        }

        // Wait for the listeners so that port 0 resolves to real ports.
        let mut listen_addrs = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while listen_addrs.len() < config.tcp_listen.len() {
            let ev = tokio::time::timeout_at(deadline, swarm.select_next_some())
                .await
                .map_err(|_| RelayServerError::Listen {
                    addr: format!("{:?}", config.tcp_listen),
                    reason: "listener did not start within 10s".into(),
                })?;
            match ev {
                SwarmEvent::NewListenAddr { address, .. } => listen_addrs.push(address),
                SwarmEvent::ListenerClosed {
                    reason, addresses, ..
                } => {
                    return Err(RelayServerError::Listen {
                        addr: format!("{addresses:?}"),
                        reason: format!("{reason:?}"),
                    });
                }
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(RelayServerError::Listen {
                        addr: format!("{:?}", config.tcp_listen),
                        reason: error.to_string(),
                    });
                }
                _ => {}
            }
        }
        for addr in &listen_addrs {
            if let Some(Protocol::Tcp(port)) = addr.iter().nth(1) {
                if let Some(ip) = config.external_ip {
                    external.push(Multiaddr::from(ip).with(Protocol::Tcp(port)));
                }
                if let Some(host) = &config.external_hostname {
                    external.push(
                        Multiaddr::empty()
                            .with(Protocol::Dns(host.clone().into()))
                            .with(Protocol::Tcp(port)),
                    );
                }
            }
        }
        let advertised = Arc::new(RwLock::new(Vec::new()));
        let (listen_tx, listen) = watch::channel(Vec::new());
        let mut state = ServerState {
            external,
            listen: Vec::new(),
            advertise_private: config.advertise_private,
            advertised: advertised.clone(),
            listen_tx,
        };
        for a in listen_addrs {
            state.add_listen(&mut swarm, a);
        }

        let (http_addr, http_task, http_stop) = match config.http_addr {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                    RelayServerError::Http {
                        addr: addr.to_string(),
                        reason: e.to_string(),
                    }
                })?;
                let bound = listener.local_addr().map_err(|e| RelayServerError::Http {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                })?;
                let app = router(RelayHttpState {
                    key: config.key.clone(),
                    peer,
                    addrs: advertised.clone(),
                    external_ip: config.external_ip,
                    external_host: config.external_hostname.clone(),
                });
                let (tx, rx) = oneshot::channel::<()>();
                let task = tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = rx.await;
                        })
                        .await
                        .map_err(|e| RelayServerError::Http {
                            addr: bound.to_string(),
                            reason: e.to_string(),
                        })
                });
                (Some(bound), Some(task), Some(tx))
            }
            None => (None, None, None),
        };

        let (stop_tx, stop_rx) = oneshot::channel();
        let swarm_task = tokio::spawn(run_swarm(swarm, state, stop_rx, http_stop));
        tracing::info!(
            relay = %peer,
            p2p_tcp_addr = ?config.tcp_listen,
            "Relay started"
        );
        match http_addr {
            Some(a) => {
                tracing::info!(url = %format!("http://{a}"), "Runtime multiaddrs available via http")
            }
            None => tracing::info!(
                "Runtime multiaddrs not available via http, since http-address flag is not set"
            ),
        }
        Ok(Self {
            peer,
            http_addr,
            advertised,
            listen,
            stop: Some(stop_tx),
            swarm_task: Some(swarm_task),
            http_task,
        })
    }

    /// The relay's peer ID.
    pub fn peer_id(&self) -> PeerId {
        self.peer
    }

    /// The bound HTTP address, if serving HTTP.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The addresses served at `/` (without the `/p2p` suffix).
    pub fn advertised_addrs(&self) -> Vec<Multiaddr> {
        match self.advertised.read() {
            Ok(a) => a.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The relay's listen addresses.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listen.borrow().clone()
    }

    /// Runs until the HTTP server fails (or forever without HTTP).
    pub async fn wait(&mut self) -> Result<(), RelayServerError> {
        match self.http_task.as_mut() {
            Some(task) => {
                let res = task.await.map_err(|e| RelayServerError::Http {
                    addr: format!("{:?}", self.http_addr),
                    reason: e.to_string(),
                })?;
                self.http_task = None;
                res
            }
            None => {
                if let Some(task) = self.swarm_task.as_mut() {
                    let _ = task.await;
                    self.swarm_task = None;
                }
                Ok(())
            }
        }
    }

    /// Stops the relay: closes circuits, connections and the HTTP server.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.swarm_task.take() {
            let _ = task.await;
        }
        if let Some(task) = self.http_task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RelayServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct ServerState {
    external: Vec<Multiaddr>,
    listen: Vec<Multiaddr>,
    advertise_private: bool,
    advertised: Arc<RwLock<Vec<Multiaddr>>>,
    listen_tx: watch::Sender<Vec<Multiaddr>>,
}

impl ServerState {
    fn add_listen(&mut self, swarm: &mut Swarm<RelayBehaviour>, addr: Multiaddr) {
        if !self.listen.contains(&addr) {
            self.listen.push(addr);
        }
        self.refresh(swarm);
    }

    fn remove_listen(&mut self, swarm: &mut Swarm<RelayBehaviour>, addr: &Multiaddr) {
        self.listen.retain(|a| a != addr);
        swarm.remove_external_address(addr);
        self.refresh(swarm);
    }

    fn refresh(&mut self, swarm: &mut Swarm<RelayBehaviour>) {
        let advertised = advertised_addrs(&self.external, &self.listen, !self.advertise_private);
        // Reservation responses must carry at least one address; fall back to
        // the listen addresses when filtering left nothing.
        let for_reservations = if advertised.is_empty() {
            self.listen.clone()
        } else {
            advertised.clone()
        };
        for a in for_reservations {
            swarm.add_external_address(a);
        }
        match self.advertised.write() {
            Ok(mut w) => *w = advertised,
            Err(p) => *p.into_inner() = advertised,
        }
        self.listen_tx.send_replace(self.listen.clone());
    }
}

/// charon's advertised set: external addresses first, then listen addresses,
/// deduplicated, optionally without private and loopback ones.
pub fn advertised_addrs(
    external: &[Multiaddr],
    listen: &[Multiaddr],
    exclude_private: bool,
) -> Vec<Multiaddr> {
    let mut out: Vec<Multiaddr> = Vec::new();
    for a in external {
        if !out.contains(a) {
            out.push(a.clone());
        }
    }
    for a in listen {
        if out.contains(a) || (exclude_private && is_private(a)) || is_unspecified(a) {
            continue;
        }
        out.push(a.clone());
    }
    out
}

/// Private, loopback or link-local addresses (go-multiaddr `IsPrivateAddr`).
pub fn is_private(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => {
            let o = ip.octets();
            ip.is_private()
                || ip.is_loopback()
                || ip.is_link_local()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        Some(Protocol::Ip6(ip)) => {
            let s = ip.segments();
            ip.is_loopback() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80
        }
        _ => false,
    }
}

fn is_unspecified(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_unspecified(),
        Some(Protocol::Ip6(ip)) => ip.is_unspecified(),
        _ => false,
    }
}

async fn run_swarm(
    mut swarm: Swarm<RelayBehaviour>,
    mut state: ServerState,
    mut stop: oneshot::Receiver<()>,
    http_stop: Option<oneshot::Sender<()>>,
) {
    loop {
        tokio::select! {
            _ = &mut stop => break,
            ev = swarm.select_next_some() => match ev {
                SwarmEvent::NewListenAddr { address, .. } => {
                    tracing::info!(addr = %address, "Relay listening");
                    state.add_listen(&mut swarm, address);
                }
                SwarmEvent::ExpiredListenAddr { address, .. } => {
                    state.remove_listen(&mut swarm, &address);
                }
                SwarmEvent::Behaviour(RelayBehaviourEvent::Relay(ev)) => log_relay_event(ev),
                SwarmEvent::ConnectionEstablished { peer_id, num_established, .. } if num_established.get() == 1 => {
                    tracing::debug!(peer = %peer_id, "Peer connected to relay");
                }
                SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                    tracing::debug!(peer = %peer_id, "Peer disconnected from relay");
                }
                _ => {}
            }
        }
    }
    if let Some(h) = http_stop {
        let _ = h.send(());
    }
    tracing::info!("Shutting down relay");
}

#[allow(deprecated)] // the deprecated variants still arrive; log them all
fn log_relay_event(ev: relay::Event) {
    match ev {
        relay::Event::ReservationReqAccepted {
            src_peer_id,
            renewed,
        } => {
            tracing::info!(peer = %src_peer_id, renewed, "Relay reservation accepted");
        }
        relay::Event::ReservationReqDenied {
            src_peer_id,
            status,
        } => {
            tracing::warn!(peer = %src_peer_id, ?status, "Relay reservation denied");
        }
        relay::Event::ReservationTimedOut { src_peer_id } => {
            tracing::info!(peer = %src_peer_id, "Relay reservation expired");
        }
        relay::Event::CircuitReqAccepted {
            src_peer_id,
            dst_peer_id,
        } => {
            tracing::info!(src = %src_peer_id, dst = %dst_peer_id, "Relay circuit opened");
        }
        relay::Event::CircuitReqDenied {
            src_peer_id,
            dst_peer_id,
            status,
        } => {
            // No reservation is what a peer that has left (a finished ceremony)
            // or never used this relay looks like; its dialers retry for a
            // while. Only a refusal by policy or limits needs an operator.
            if matches!(status, relay::StatusCode::NoReservation) {
                tracing::debug!(src = %src_peer_id, dst = %dst_peer_id, ?status, "Relay circuit denied: destination not connected to this relay");
            } else {
                tracing::warn!(src = %src_peer_id, dst = %dst_peer_id, ?status, "Relay circuit denied");
            }
        }
        relay::Event::CircuitClosed {
            src_peer_id,
            dst_peer_id,
            error,
        } => {
            tracing::debug!(src = %src_peer_id, dst = %dst_peer_id, error = ?error.map(|e| e.to_string()), "Relay circuit closed");
        }
        other => tracing::debug!(event = ?other, "Relay event"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_filtering_matches_charon() {
        let m = |s: &str| s.parse::<Multiaddr>().unwrap();
        let listen = vec![
            m("/ip4/127.0.0.1/tcp/1"),
            m("/ip4/10.0.0.1/tcp/1"),
            m("/ip4/8.8.8.8/tcp/1"),
            m("/ip4/100.64.1.1/tcp/1"),
        ];
        let external = vec![m("/ip4/1.2.3.4/tcp/1"), m("/dns/relay.example/tcp/1")];
        assert_eq!(
            advertised_addrs(&external, &listen, true),
            vec![
                m("/ip4/1.2.3.4/tcp/1"),
                m("/dns/relay.example/tcp/1"),
                m("/ip4/8.8.8.8/tcp/1")
            ]
        );
        assert_eq!(advertised_addrs(&[], &listen, false), listen);
        // External addresses are never filtered, even private ones.
        assert_eq!(
            advertised_addrs(&[m("/ip4/10.0.0.9/tcp/2")], &[], true),
            vec![m("/ip4/10.0.0.9/tcp/2")]
        );
        assert!(is_private(&m("/ip6/::1/tcp/1")));
        assert!(is_private(&m("/ip6/fd00::1/tcp/1")));
        assert!(!is_private(&m("/ip6/2001:4860::1/tcp/1")));
    }
}
