//! Before step 1: the host, every protocol handler and the sync clients,
//! all in place before the first connection.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use k256::ecdsa::{SigningKey, VerifyingKey};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::dkg::metrics::Metrics;
use crate::dkg::net::{Handlers, Net, spawn_handlers};
use crate::dkg::parsig::ParSigStore;
use crate::dkg::preflight::Checked;
use crate::lock::definition::Definition;
use crate::lock::enr::Enr;
use crate::p2p::bcast::{Bcast, Delivery};
use crate::p2p::collect::Collector;
use crate::p2p::host::{Host, HostConfig};
use crate::p2p::identity::{EnrPrivateKey, peer_id_from_k1_pubkey};
use crate::p2p::limits::WireLimits;
use crate::p2p::parsigex::{SIG_LOCK, SIG_VALIDATOR_REGISTRATION, deposit_sig_type};
use crate::p2p::proto::dkgpb::{
    FrostRound1Casts, FrostRound1P2P, FrostRound2Casts, MsgNodeSig, NodePubKeyMessage,
};
use crate::p2p::protocols;
use crate::p2p::relay_http::{ClusterHeaders, RelaySpec};
use crate::p2p::sync::{SyncClient, SyncLocal, SyncServer};

use super::config::CeremonyConfig;
use super::error::CeremonyError;
use super::progress::Progress;
use super::session::{Peers, Session};
use super::shutdown::ClientTasks;

/// The broadcast messages each step receives, registered before the first
/// connection so that early senders are buffered.
pub(super) struct Inbox {
    /// FROST round-1 casts (step 1).
    pub(super) round1: UnboundedReceiver<Delivery>,
    /// FROST round-2 casts (step 1).
    pub(super) round2: UnboundedReceiver<Delivery>,
    /// Node signatures (step 5).
    pub(super) node_sigs: UnboundedReceiver<Delivery>,
}

/// A started ceremony: its session and what only particular steps use.
pub(super) struct Started<'a> {
    pub(super) session: Session<'a>,
    /// One sync client per peer (connect waits for all of them).
    pub(super) clients: Vec<Arc<SyncClient>>,
    /// Their tasks (shutdown waits for them).
    pub(super) client_tasks: ClientTasks,
    pub(super) inbox: Inbox,
    pub(super) background: Background,
}

/// Tasks that live as long as the host.
pub(super) struct Background {
    disconnects: tokio::task::JoinHandle<()>,
    paths: tokio::task::JoinHandle<()>,
    /// Kept open so that peers' pedersen messages are accepted to the end.
    _pedersen: UnboundedReceiver<Delivery>,
}

impl Background {
    /// Stops the tasks and the host, whatever the steps' result.
    pub(super) async fn stop(self, host: &Host) {
        self.disconnects.abort();
        self.paths.abort();
        host.shutdown().await;
    }
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> CeremonyError + '_ {
    move |e| CeremonyError::Setup(format!("{what}: {e}"))
}

fn peers_of(def: &Definition, key: &EnrPrivateKey) -> Result<Peers, CeremonyError> {
    let mut ids = Vec::new();
    let mut keys = Vec::new();
    for (i, op) in def.operators.iter().enumerate() {
        let enr = Enr::parse(&op.enr)
            .map_err(|e| CeremonyError::Setup(format!("operator {i} ENR: {e}")))?;
        let compressed = crate::lock::k1::compressed(enr.public_key());
        let id = peer_id_from_k1_pubkey(&compressed).map_err(setup("peer id"))?;
        if ids.contains(&id) {
            return Err(CeremonyError::Setup(
                "definition contains duplicate peer ids".into(),
            ));
        }
        ids.push(id);
        keys.push(VerifyingKey::from(enr.public_key()));
    }
    let own_pub = key.public_key_compressed();
    let own = keys
        .iter()
        .position(|k| k.to_sec1_point(true).as_bytes() == own_pub.as_slice())
        .ok_or_else(|| {
            CeremonyError::Setup(
                "private key not matching definition file: charon-enr-private-key is not one of the operators' ENR keys".into(),
            )
        })?;
    Ok(Peers { ids, keys, own })
}

/// Loads the key, starts the host with every handler and the sync clients.
pub(super) async fn start<'a>(
    cfg: &'a CeremonyConfig,
    checked: &'a Checked,
    metrics: &'a Metrics,
    progress: &Progress,
) -> Result<Started<'a>, CeremonyError> {
    let def = &checked.definition;
    let key = EnrPrivateKey::load(&cfg.data_dir).map_err(setup("load ENR private key"))?;
    let peers = peers_of(def, &key)?;
    let n = peers.ids.len();
    let own = peers.own;
    let num_vals = usize::try_from(def.num_validators).map_err(setup("num_validators"))?;
    let signing_key = SigningKey::from(key.secret_key());
    tracing::info!(
        operator = own,
        operators = n,
        threshold = def.threshold,
        validators = num_vals,
        network = checked.network.name,
        definition_hash = %hex::encode(checked.definition_hash),
        "Starting DKG ceremony"
    );

    // Host and every protocol handler, before the first connection.
    let relays = cfg
        .relays
        .iter()
        .map(|r| RelaySpec::parse(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(setup("--p2p-relays"))?;
    let mut hc = HostConfig::new(key.clone(), peers.ids.clone());
    hc.relays = relays;
    hc.cluster_headers = ClusterHeaders {
        definition_hash_hex: hex::encode(checked.definition_hash),
        uuid: def.uuid.clone(),
    };
    hc.tcp_listen = cfg.tcp_listen.clone();
    hc.external_ip = cfg.external_ip;
    hc.external_hostname = cfg.external_hostname.clone();
    hc.compat = cfg.compat;
    hc.disable_reuseport = cfg.disable_reuseport;
    hc.relay_only = cfg.relay_only;
    let host = Arc::new(Host::new(hc).map_err(setup("start p2p host"))?);

    let limits = WireLimits::new(
        num_vals,
        n,
        usize::try_from(def.threshold).unwrap_or(usize::MAX),
    );
    let mut bcast = Bcast::new(
        cfg.compat,
        checked.definition_hash,
        own,
        signing_key.clone(),
        peers.keys.clone(),
    )
    .map_err(setup("bcast"))?;
    let r1_rx = bcast.register::<FrostRound1Casts>(protocols::MSG_FROST_ROUND1_CAST);
    let r2_rx = bcast.register::<FrostRound2Casts>(protocols::MSG_FROST_ROUND2_CAST);
    let ns_rx = bcast.register::<MsgNodeSig>(protocols::MSG_NODE_SIG);
    // Registered as charon does so that Go peers' requests are answered.
    let _pedersen = bcast.register::<NodePubKeyMessage>(protocols::MSG_PEDERSEN_NODE_PUBKEYS);
    bcast.set_limits(limits);
    let bcast = Arc::new(bcast);
    let sync = Arc::new(
        SyncServer::new(cfg.compat, checked.definition_hash, own, peers.keys.clone())
            .map_err(setup("sync"))?,
    );
    // Only the exchanges of steps 2-4: lock hash, registrations, one per deposit amount.
    let sig_types = [SIG_LOCK, SIG_VALIDATOR_REGISTRATION]
        .into_iter()
        .chain((0..checked.deposit_amounts.len()).map(deposit_sig_type))
        .collect();
    let parsigs = Arc::new(ParSigStore::for_ceremony(n, num_vals, sig_types));
    let round1_p2p = Arc::new(Collector::<FrostRound1P2P>::new(n));
    spawn_handlers(
        &host,
        &peers.ids,
        Handlers {
            sync: sync.clone(),
            bcast: bcast.clone(),
            round1_p2p: round1_p2p.clone(),
            parsigs: parsigs.clone(),
            peerinfo: crate::p2p::peerinfo::dkg_peer_info(
                cfg.compat.release_version(),
                "unknown",
                &checked.definition_hash,
                SystemTime::now(),
            ),
            bcast_ids: (cfg.compat.bcast_sig(), cfg.compat.bcast_msg()),
            own,
            num_validators: num_vals,
            limits,
        },
    )
    .map_err(setup("register protocols"))?;
    let disconnects = spawn_disconnect_log(&host, sync.clone(), own);
    host.start().await.map_err(setup("start p2p host"))?;
    let net = Arc::new(Net {
        host: host.clone(),
        peers: peers.ids.clone(),
        open_timeout: Duration::from_secs(10),
    });

    let local = Arc::new(
        SyncLocal::new(
            cfg.compat,
            &signing_key,
            &checked.definition_hash,
            &cfg.nickname,
        )
        .map_err(setup("sync"))?,
    );
    let clients: Vec<Arc<SyncClient>> = (0..n)
        .filter(|&p| p != own)
        .map(|p| Arc::new(SyncClient::new(p, local.clone())))
        .collect();
    let paths = spawn_sync_migration(&host, &clients);
    let mut client_tasks = Vec::with_capacity(clients.len());
    for c in &clients {
        let (c, net, sync) = (c.clone(), net.clone(), sync.clone());
        client_tasks.push((
            c.peer(),
            tokio::spawn(async move {
                match c.run(net.as_ref()).await {
                    Ok(()) => {}
                    // A peer refusing us (version, signature, restart) ends the
                    // whole ceremony at once with its reason, as in charon.
                    Err(e @ crate::p2p::sync::SyncError::PeerError { .. }) => sync.record_fatal(e),
                    Err(e) => tracing::debug!(error = %e, "Sync client ended"),
                }
            }),
        ));
    }

    Ok(Started {
        session: Session {
            cfg,
            checked,
            metrics,
            peers,
            num_vals,
            net,
            bcast,
            sync,
            local,
            parsigs,
            round1_p2p,
            signing_key,
            steps: Vec::new(),
            step_start: Instant::now(),
            progress: progress.clone(),
        },
        clients,
        client_tasks,
        inbox: Inbox {
            round1: r1_rx,
            round2: r2_rx,
            node_sigs: ns_rx,
        },
        background: Background {
            disconnects,
            paths,
            _pedersen,
        },
    })
}

/// Logs each peer that drops off by what it means: after it announced step 8
/// (the shutdown handshake) leaving is the normal end, anything earlier is a
/// problem the operator should see (the host redials it meanwhile).
fn spawn_disconnect_log(
    host: &Host,
    sync: Arc<SyncServer>,
    own: usize,
) -> tokio::task::JoinHandle<()> {
    let mut events = host.subscribe_events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(crate::p2p::host::PeerEvent::Disconnected { peer, index }) => {
                    let step = sync.peer_steps().get(index).copied().flatten();
                    if step.is_some_and(|s| s >= 8) {
                        tracing::debug!(operator = index, %peer, "Operator {index} left after its shutdown handshake");
                    } else {
                        tracing::warn!(
                            operator = index,
                            %peer,
                            peer_step = step.unwrap_or(0),
                            own,
                            "Lost the connection to operator {index} before the ceremony finished; redialing"
                        );
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

/// Moves a sync client's stream to a peer's direct connection when one
/// appears (the stream opened first may run through the relay).
fn spawn_sync_migration(host: &Host, clients: &[Arc<SyncClient>]) -> tokio::task::JoinHandle<()> {
    let mut events = host.subscribe_events();
    let clients = clients.to_vec();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(crate::p2p::host::PeerEvent::Direct { index, .. }) => {
                    if let Some(c) = clients.iter().find(|c| c.peer() == index) {
                        c.reopen();
                    }
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}
