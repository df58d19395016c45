//! The ceremony itself: charon dkg's steps 1-8 over libp2p.
//!
//! Step 1 runs FROST for every validator, steps 2-4 exchange partial BLS
//! signatures (deposits per amount, builder registrations, the lock hash),
//! step 5 exchanges node signatures, step 6 verifies the lock and prepares the
//! outputs, and the outputs are committed to disk only once every peer has
//! passed step 7, followed by charon's shutdown handshake (step 8).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use k256::ecdsa::{SigningKey, VerifyingKey};
use libp2p::PeerId;
use rand::rngs::OsRng;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::frost::bls::{self, PublicKey, SecretKey, Signature};
use crate::frost::dkg::{Participant, Round2Input, Round2Result, round2_batch};
use crate::frost::messages::{Round1Bcast, Round2Bcast, ShamirShare};
use crate::lock::definition::Definition;
use crate::lock::enr::Enr;
use crate::lock::keystore;
use crate::lock::lockfile::{
    BuilderRegistration, DepositData, DistValidator, Lock, RegistrationMessage,
};
use crate::lock::network::{Network, NetworkSet};
use crate::lock::signing;
use crate::lock::verify::{VerifyOptions, verify_lock, verify_lock_deferred};
use crate::lock::version::Version;
use crate::p2p::bcast::{Bcast, Delivery};
use crate::p2p::collect::Collector;
use crate::p2p::frostp2p::{validate_round1_casts, validate_round2_casts};
use crate::p2p::host::{Host, HostConfig};
use crate::p2p::identity::{EnrPrivateKey, peer_id_from_k1_pubkey};
use crate::p2p::limits::WireLimits;
use crate::p2p::nodesig::NodeSigs;
use crate::p2p::parsigex::{
    SIG_LOCK, SIG_VALIDATOR_REGISTRATION, build_msg, deposit_sig_type, send_msg,
};
use crate::p2p::proto::dkgpb::{
    FrostMsgKey, FrostRound1Cast, FrostRound1Casts, FrostRound1P2P, FrostRound1ShamirShare,
    FrostRound2Cast, FrostRound2Casts, MsgNodeSig, NodePubKeyMessage,
};
use crate::p2p::protocols::{self, Compat};
use crate::p2p::relay_http::{ClusterHeaders, RelaySpec};
use crate::p2p::stream::{OpenStream, SendPolicy, with_retries};
use crate::p2p::sync::{SyncClient, SyncLocal, SyncServer};

use super::metrics::Metrics;
use super::net::{Handlers, Net, spawn_handlers};
use super::output::{KEYS_DIR, LOCK_FILE, OutputSet};
use super::parsig::ParSigStore;
use super::preflight::{Checked, DEFAULT_GAS_LIMIT};

/// How long the shutdown handshake may take (charon: 2 min).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);
/// How often waits without a deadline check that the peers they need are alive.
const LIVENESS_POLL: Duration = Duration::from_millis(250);
/// How often a long wait says who it is still waiting for.
const PROGRESS_LOG_EVERY: Duration = Duration::from_secs(30);
/// How long a peer that announced its shutdown must stay disconnected before
/// its sync client stops retrying: long enough for the host's immediate
/// redial to bring back a peer that only lost a connection.
const LEFT_AFTER_SHUTDOWN: Duration = Duration::from_secs(1);

/// Why the ceremony failed. Every message says which step and, where known,
/// which operator or validator.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    /// Local set-up failed (keys, definition, host).
    #[error("{0}")]
    Setup(String),
    /// Peers did not all connect in time.
    #[error("peers did not connect within {timeout:?}: missing operator(s) {missing}")]
    Connect {
        /// How long we waited.
        timeout: Duration,
        /// Missing operators, described.
        missing: String,
    },
    /// A step failed.
    #[error("step {step} ({name}): {reason}")]
    Step {
        /// Step number.
        step: u64,
        /// Step name.
        name: &'static str,
        /// What failed.
        reason: String,
    },
    /// A peer aborted or misbehaved in the sync protocol.
    #[error("sync protocol: {0}")]
    Sync(String),
    /// Writing the outputs failed.
    #[error(transparent)]
    Output(#[from] super::output::OutputError),
    /// The ceremony succeeded but the keymanager refused the keys; they were
    /// written to disk instead so nothing is lost.
    #[error(
        "{source}; the ceremony itself succeeded and the keystores were written to {keys_dir} instead: import them into the validator client manually"
    )]
    KeymanagerFallback {
        /// Why the import failed.
        source: super::keymanager::KeymanagerError,
        /// Where the keystores are.
        keys_dir: String,
    },
}

/// Everything the ceremony needs besides the definition.
#[derive(Debug, Clone)]
pub struct CeremonyConfig {
    /// Data directory: holds the ENR key, receives the outputs.
    pub data_dir: PathBuf,
    /// Relay multiaddrs or URLs.
    pub relays: Vec<String>,
    /// TCP listen addresses.
    pub tcp_listen: Vec<SocketAddr>,
    /// Advertised IP.
    pub external_ip: Option<IpAddr>,
    /// Advertised host name.
    pub external_hostname: Option<String>,
    /// Wait for peers and for each exchange at most this long.
    pub timeout: Duration,
    /// Skip the final lock verification (charon --no-verify).
    pub no_verify: bool,
    /// Which charon minor version to speak.
    pub compat: Compat,
    /// Sent in sync messages.
    pub nickname: String,
    /// Networks accepted.
    pub networks: NetworkSet,
    /// pbkdf2 iterations for keystores (charon: 262144).
    pub keystore_pbkdf2_c: u32,
    /// Import the keys here instead of writing keystores (charon
    /// `--keymanager-address`); on failure they are written to disk instead.
    pub keymanager: Option<super::keymanager::Keymanager>,
    /// Deliberate misbehaviour, for testing how honest peers react.
    pub fault: Option<Fault>,
    /// Dial from fresh ports instead of the listen port (charon's
    /// `--p2p-disable-reuseport`).
    pub disable_reuseport: bool,
    /// Reach peers through relays only (no direct dials, no hole punching).
    pub relay_only: bool,
    /// Asked about contract-wallet (ERC-1271) signatures when the lock is
    /// verified at step 6, as charon re-asks there; without one they are
    /// rejected.
    pub execution_client: Option<super::erc1271::ExecutionClient>,
}

/// Misbehaviour a test node can be told to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Send every peer a round-1 share for validator 0 that is off the polynomial.
    InvalidFrostShare,
    /// Spend `--timeout` plus 5 s before reaching step 7, still answering
    /// sync, like a charon peer encrypting many keystores.
    SlowBeforeStep7,
}

/// What a successful ceremony produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The lock hash.
    pub lock_hash: [u8; 32],
    /// Validator public keys in lock order.
    pub validators: Vec<PublicKey>,
    /// Wall time per step.
    pub step_seconds: Vec<(u64, f64)>,
}

/// How far a running ceremony got, for a caller deciding what an interruption
/// may still discard. Once this node has announced step 7, peers may commit
/// their outputs (they pass the step-7 barrier as soon as they see us there),
/// so from then on the ceremony must be finished, not abandoned; and once
/// [`Progress::outputs_committed`], this node's outputs are final.
#[derive(Debug, Clone)]
pub struct Progress(Arc<tokio::sync::watch::Sender<ProgressState>>);

/// A snapshot of [`Progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressState {
    /// The last step this node announced to its peers (0 before step 1).
    pub step: u64,
    /// This node's outputs are on disk (or, with a keymanager, imported and written).
    pub committed: bool,
}

impl Default for Progress {
    fn default() -> Self {
        Progress(Arc::new(tokio::sync::watch::Sender::new(
            ProgressState::default(),
        )))
    }
}

impl Progress {
    /// The current state.
    pub fn state(&self) -> ProgressState {
        *self.0.borrow()
    }

    /// Whether peers may already have committed outputs of this ceremony.
    pub fn peers_may_commit(&self) -> bool {
        self.state().step >= 7
    }

    /// Whether this node's outputs were committed.
    pub fn outputs_committed(&self) -> bool {
        self.state().committed
    }

    /// Notified on every change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<ProgressState> {
        self.0.subscribe()
    }

    /// Back to the start, for the next ceremony observed through this value.
    pub fn reset(&self) {
        self.0.send_replace(ProgressState::default());
    }

    fn announce(&self, step: u64) {
        self.0.send_modify(|s| s.step = s.step.max(step));
    }

    fn mark_committed(&self) {
        self.0.send_modify(|s| s.committed = true);
    }
}

/// One validator's key material after FROST.
struct Share {
    pubkey: PublicKey,
    secret: SecretKey,
    /// Public shares by 1-based share index.
    public_shares: BTreeMap<u32, PublicKey>,
    /// The same, decoded once for the signature exchanges.
    prepared: BTreeMap<u32, bls::PreparedKey>,
}

/// The peers of the cluster as the definition lists them.
struct Peers {
    ids: Vec<PeerId>,
    keys: Vec<VerifyingKey>,
    own: usize,
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

/// Runs the whole ceremony. Returns only after the outputs are in place.
pub async fn run(
    cfg: &CeremonyConfig,
    checked: &Checked,
    metrics: &Metrics,
) -> Result<Outcome, CeremonyError> {
    run_with_progress(cfg, checked, metrics, &Progress::default()).await
}

/// [`run`], reporting into `progress` (which should be fresh) how far it got.
pub async fn run_with_progress(
    cfg: &CeremonyConfig,
    checked: &Checked,
    metrics: &Metrics,
    progress: &Progress,
) -> Result<Outcome, CeremonyError> {
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

    let mut cer = Ceremony {
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
    };
    let result = cer
        .run_steps(&clients, client_tasks, r1_rx, r2_rx, ns_rx)
        .await;
    disconnects.abort();
    paths.abort();
    host.shutdown().await;
    result
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

struct Ceremony<'a> {
    cfg: &'a CeremonyConfig,
    checked: &'a Checked,
    metrics: &'a Metrics,
    peers: Peers,
    num_vals: usize,
    net: Arc<Net>,
    bcast: Arc<Bcast>,
    sync: Arc<SyncServer>,
    local: Arc<SyncLocal>,
    parsigs: Arc<ParSigStore>,
    round1_p2p: Arc<Collector<FrostRound1P2P>>,
    signing_key: SigningKey,
    steps: Vec<(u64, f64)>,
    step_start: Instant,
    progress: Progress,
}

/// Number of steps a ceremony goes through.
pub const STEPS: u64 = 8;

const STEP_NAMES: [&str; 9] = [
    "",
    "FROST key generation",
    "deposit data",
    "builder registrations",
    "lock hash signature",
    "node signatures",
    "verification",
    "outputs",
    "shutdown",
];

/// The name of ceremony step `step` (1-8; empty otherwise).
pub fn step_name(step: u64) -> &'static str {
    STEP_NAMES.get(step as usize).copied().unwrap_or("")
}

impl Ceremony<'_> {
    fn n(&self) -> usize {
        self.peers.ids.len()
    }
    fn own(&self) -> usize {
        self.peers.own
    }
    fn share_idx(&self) -> u32 {
        self.peers.own as u32 + 1
    }

    fn fail(&self, step: u64, reason: impl std::fmt::Display) -> CeremonyError {
        CeremonyError::Step {
            step,
            name: step_name(step),
            reason: reason.to_string(),
        }
    }

    /// What to check when a peer went quiet and this node is cut off from
    /// everyone: then the relay (or the network) is the likely cause, not
    /// the operators named.
    fn isolation_hint(&self) -> &'static str {
        let host = &self.net.host;
        if host.connected_peers().is_empty() && host.watch_reservations().borrow().is_empty() {
            "; this node is connected to no peer and holds no relay reservation: check that the relays in --p2p-relays are up and reachable"
        } else {
            ""
        }
    }

    /// Describes operators by index and ENR-derived peer id.
    fn describe(&self, idx: &[usize]) -> String {
        idx.iter()
            .map(|&i| match self.peers.ids.get(i) {
                Some(p) => format!("{i} ({p})"),
                None => i.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Races `fut` against fatal sync errors reported by any peer.
    async fn guarded<T>(
        &self,
        step: u64,
        fut: impl std::future::Future<Output = Result<T, CeremonyError>>,
    ) -> Result<T, CeremonyError> {
        let sync = self.sync.clone();
        let watch = async move {
            loop {
                if let Some(e) = sync.error() {
                    return e.to_string();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            r = fut => r,
            e = watch => Err(CeremonyError::Sync(format!("during step {step} ({}): {e}", step_name(step)))),
        }
    }

    /// Operators among `waiting` that have sent no sync message for the whole
    /// `--timeout`, counted from `since` at the earliest.
    fn silent(&self, waiting: &[usize], since: Instant) -> Vec<usize> {
        let heard = self.sync.last_heard();
        waiting
            .iter()
            .copied()
            .filter(|&p| {
                let last = heard
                    .get(p)
                    .copied()
                    .flatten()
                    .map_or(since, |h| h.max(since));
                last.elapsed() >= self.cfg.timeout
            })
            .collect()
    }

    fn gone(&self, step: u64, what: &str, gone: &[usize]) -> CeremonyError {
        self.fail(
            step,
            format!(
                "timed out waiting for {what} from operator(s) {}: nothing heard from them for {:?}{}",
                self.describe(gone),
                self.cfg.timeout,
                self.isolation_hint()
            ),
        )
    }

    /// Waits for `fut` as charon does, with no deadline while the operators it
    /// still needs (`pending`) are alive: a peer busy with a long step (pbkdf2
    /// for thousands of keystores, a keymanager import, a big FROST) is waited
    /// for. One that has sent no sync message for `--timeout` is gone, and the
    /// wait fails naming it.
    async fn while_alive<T>(
        &self,
        step: u64,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, CeremonyError>>,
        pending: impl Fn() -> Vec<usize>,
    ) -> Result<T, CeremonyError> {
        let start = Instant::now();
        let mut last_log = start;
        tokio::pin!(fut);
        loop {
            tokio::select! {
                r = &mut fut => return r,
                () = tokio::time::sleep(LIVENESS_POLL) => {}
            }
            let waiting = pending();
            let gone = self.silent(&waiting, start);
            if !gone.is_empty() {
                return Err(self.gone(step, what, &gone));
            }
            if !waiting.is_empty() && last_log.elapsed() >= PROGRESS_LOG_EVERY {
                tracing::info!(
                    "Still waiting for {what} from operator(s) {}; they are connected and working",
                    self.describe(&waiting)
                );
                last_log = Instant::now();
            }
        }
    }

    /// Enters `step` and waits until every peer is there (charon's barrier).
    async fn barrier(&mut self, step: u64) -> Result<(), CeremonyError> {
        let started = Instant::now();
        // Recorded first, so an observer never sees less than peers may have.
        self.progress.announce(step);
        self.local.set_step(step as i64);
        let sync = self.sync.clone();
        let wait = async {
            sync.await_all_at_step(step as i64)
                .await
                .map_err(|e| CeremonyError::Sync(e.to_string()))
        };
        let what = format!("step {step}");
        let wait = self.while_alive(step, &what, wait, || self.sync_missing(step as i64));
        self.guarded(step, wait).await?;
        // Step timings count from the barrier's end to the next one's.
        let now = Instant::now();
        if step > 1 {
            let secs = (now - self.step_start).as_secs_f64();
            let prev = step - 1;
            self.steps.push((prev, secs));
            self.metrics.set_step_seconds(prev, secs);
            tracing::info!(step = prev, duration_s = format!("{secs:.3}"), "Step done");
        }
        self.step_start = now;
        self.metrics.set_step(step);
        tracing::info!(
            step,
            of = 8,
            waited_s = format!("{:.3}", started.elapsed().as_secs_f64()),
            "Step {step} of 8: {}",
            step_name(step)
        );
        Ok(())
    }

    fn sync_missing(&self, step: i64) -> Vec<usize> {
        self.sync
            .peer_steps()
            .into_iter()
            .enumerate()
            .filter(|(i, s)| *i != self.own() && s.is_none_or(|s| s < step))
            .map(|(i, _)| i)
            .collect()
    }

    async fn run_steps(
        &mut self,
        clients: &[Arc<SyncClient>],
        client_tasks: Vec<(usize, tokio::task::JoinHandle<()>)>,
        r1_rx: UnboundedReceiver<Delivery>,
        r2_rx: UnboundedReceiver<Delivery>,
        ns_rx: UnboundedReceiver<Delivery>,
    ) -> Result<Outcome, CeremonyError> {
        self.await_connected(clients).await?;
        self.metrics.set_ready(true);

        self.barrier(1).await?;
        let shares = self.guarded(1, self.frost(r1_rx, r2_rx)).await?;
        self.metrics.set_validators_done(shares.len());

        // Encrypting keystores is the slowest local work (pbkdf2); it runs on
        // other threads while the signature exchanges wait on the network.
        let secrets: Vec<SecretKey> = shares.iter().map(|s| s.secret.clone()).collect();
        let c = self.cfg.keystore_pbkdf2_c;
        // Keymanager imports use charon's longer (32-byte) passwords.
        let password = if self.cfg.keymanager.is_some() {
            keystore::Password::random_keymanager
        } else {
            keystore::Password::random
        };
        let keystores =
            tokio::task::spawn_blocking(move || keystore::encrypt_many_with(&secrets, c, password));

        self.barrier(2).await?;
        let deposits = self.guarded(2, self.deposits(&shares)).await?;
        self.barrier(3).await?;
        let registrations = self.guarded(3, self.registrations(&shares)).await?;
        self.barrier(4).await?;
        let mut lock = self.build_lock(&shares, deposits, registrations)?;
        let lock_hash = self
            .guarded(4, self.lock_signature(&shares, &mut lock))
            .await?;
        self.barrier(5).await?;
        let node_sigs = self
            .guarded(5, self.node_signatures(ns_rx, &lock_hash))
            .await?;
        if lock.definition.version >= Version::V1_7 {
            lock.node_signatures = node_sigs;
        }
        self.barrier(6).await?;
        if !self.cfg.no_verify {
            // Deposit signatures are verified when the deposit files are
            // built (always, even with --no-verify); not twice.
            let opts = VerifyOptions {
                networks: self.cfg.networks,
                check_deposits: false,
            };
            match &self.cfg.execution_client {
                None => verify_lock(&lock, &opts).map_err(|e| self.fail(6, e))?,
                Some(client) => {
                    let pending =
                        verify_lock_deferred(&lock, &opts).map_err(|e| self.fail(6, e))?;
                    client.check(pending).await.map_err(|e| self.fail(6, e))?;
                }
            }
            tracing::info!(
                "Lock verified: hashes, aggregate, shares, registrations, node signatures (deposits are checked as their files are built)"
            );
        }
        let keystores = keystores
            .await
            .map_err(|e| self.fail(6, format!("keystore encryption: {e}")))?;
        if keystores.len() != shares.len() {
            return Err(self.fail(6, "keystore encryption lost keys"));
        }
        let mut outputs = self.outputs(&lock, &shares)?;
        if self.cfg.keymanager.is_none() {
            add_keystores(&mut outputs, &keystores);
        }
        if self.cfg.fault == Some(Fault::SlowBeforeStep7) {
            tokio::time::sleep(self.cfg.timeout + Duration::from_secs(5)).await;
        }
        self.barrier(7).await?;
        let Some(km) = &self.cfg.keymanager else {
            outputs.commit(&self.cfg.data_dir)?;
            self.progress.mark_committed();
            tracing::info!(
                data_dir = %self.cfg.data_dir.display(),
                lock_hash = %format!("0x{}", hex::encode(lock_hash)),
                "Outputs written: {LOCK_FILE}, {KEYS_DIR}/, deposit-data files"
            );
            self.shutdown(client_tasks).await;
            return Ok(Outcome {
                lock_hash,
                validators: shares.iter().map(|s| s.pubkey).collect(),
                step_seconds: self.steps.clone(),
            });
        };
        // Imported only once every peer has verified the lock, after the
        // shutdown handshake so a slow import cannot run into the peers'
        // shutdown timeout, and never at the cost of the keys: a refused
        // import falls back to disk.
        self.shutdown(client_tasks).await;
        let mut fallback = None;
        {
            tracing::info!(
                url = km.url(),
                keys = keystores.len(),
                "Importing keys into the keymanager"
            );
            match km.import(&keystores).await {
                Ok(()) => {
                    tracing::info!(keys = keystores.len(), "Keys imported into the keymanager")
                }
                Err(e) => {
                    tracing::error!(error = %e, "Keymanager import failed; writing keystores to disk instead");
                    add_keystores(&mut outputs, &keystores);
                    fallback = Some(e);
                }
            }
        }
        outputs.commit(&self.cfg.data_dir)?;
        self.progress.mark_committed();
        if let Some(source) = fallback {
            return Err(CeremonyError::KeymanagerFallback {
                source,
                keys_dir: self.cfg.data_dir.join(KEYS_DIR).display().to_string(),
            });
        }
        tracing::info!(
            data_dir = %self.cfg.data_dir.display(),
            lock_hash = %format!("0x{}", hex::encode(lock_hash)),
            "Outputs written: {LOCK_FILE}, deposit-data files (keys are in the keymanager)"
        );
        Ok(Outcome {
            lock_hash,
            validators: shares.iter().map(|s| s.pubkey).collect(),
            step_seconds: self.steps.clone(),
        })
    }

    async fn await_connected(&self, clients: &[Arc<SyncClient>]) -> Result<(), CeremonyError> {
        let total = self.n() - 1;
        let deadline = Instant::now() + self.cfg.timeout;
        let mut last_logged = usize::MAX;
        let mut last_log_at = Instant::now();
        // Peers seen at some point: when one leaves again (typically because its
        // own timeout fired first) it is named after the ones never seen, which
        // are the real cause.
        let mut seen = vec![false; self.n()];
        loop {
            if let Some(e) = self.sync.error() {
                return Err(CeremonyError::Sync(e.to_string()));
            }
            let server_seen = self.sync.connected_peers();
            let mut missing: Vec<usize> = Vec::new();
            for i in (0..self.n()).filter(|&i| i != self.own()) {
                let client_up = clients
                    .iter()
                    .find(|c| c.peer() == i)
                    .is_some_and(|c| c.is_connected());
                if client_up && server_seen.contains(&i) {
                    seen[i] = true;
                } else {
                    missing.push(i);
                }
            }
            missing.sort_by_key(|&i| seen[i]);
            let connected = total - missing.len();
            self.metrics.set_peers(connected, total);
            if missing.is_empty() {
                tracing::info!("All {total} peers connected");
                return Ok(());
            }
            if connected != last_logged || last_log_at.elapsed() > Duration::from_secs(10) {
                tracing::info!(
                    "Peers connected: {connected} of {total}; waiting for operator(s) {}",
                    self.describe(&missing)
                );
                last_logged = connected;
                last_log_at = Instant::now();
            }
            if Instant::now() > deadline {
                let described: Vec<String> = missing
                    .iter()
                    .map(|&i| {
                        let d = self.describe(&[i]);
                        if seen[i] {
                            format!("{d} [left after connecting]")
                        } else {
                            d
                        }
                    })
                    .collect();
                return Err(CeremonyError::Connect {
                    timeout: self.cfg.timeout,
                    missing: described.join(", "),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Step 1: FROST round 1 (broadcast commitments, send shares), round 2
    /// (verify, derive, broadcast verification keys, check them).
    async fn frost(
        &self,
        mut r1_rx: UnboundedReceiver<Delivery>,
        mut r2_rx: UnboundedReceiver<Delivery>,
    ) -> Result<Vec<Share>, CeremonyError> {
        let (n, t, me) = (
            self.n() as u32,
            self.checked.definition.threshold as u32,
            self.share_idx(),
        );
        let v = self.num_vals;
        let started = Instant::now();
        let participants: Vec<Participant> = {
            let mut rng = OsRng;
            (0..v)
                .map(|_| Participant::new(me, t, n, &mut rng))
                .collect::<Result<_, _>>()
                .map_err(|e| self.fail(1, e))?
        };
        let round1: Vec<(Round1Bcast, BTreeMap<u32, ShamirShare>)> =
            participants.iter().map(|p| p.round1()).collect();
        tracing::info!(
            validators = v,
            elapsed_s = format!("{:.3}", started.elapsed().as_secs_f64()),
            "FROST round 1 computed"
        );

        let casts = FrostRound1Casts {
            casts: round1
                .iter()
                .enumerate()
                .map(|(vi, (b, _))| FrostRound1Cast {
                    key: Some(key(vi, me, 0)),
                    wi: b.wi.to_vec(),
                    ci: b.ci.to_vec(),
                    commitments: b.commitments.iter().map(|c| c.to_vec()).collect(),
                })
                .collect(),
        };
        // Validate our own message as peers will (a rejected first cast
        // blocks charon peers for the round).
        validate_round1_casts(&casts, me, v, t as usize).map_err(|e| self.fail(1, e))?;
        let p2p_msgs: Vec<(usize, FrostRound1P2P)> = (0..self.n())
            .filter(|&j| j != self.own())
            .map(|j| {
                let target = j as u32 + 1;
                let shares = round1
                    .iter()
                    .enumerate()
                    .map(|(vi, (_, sh))| FrostRound1ShamirShare {
                        key: Some(key(vi, me, target)),
                        id: target,
                        value: {
                            let mut v = sh
                                .get(&target)
                                .map(|s| s.value.to_vec())
                                .unwrap_or_default();
                            if vi == 0 && self.cfg.fault == Some(Fault::InvalidFrostShare) {
                                // Still canonical and non-zero: only the Feldman
                                // check can catch it.
                                if let Some(b) = v.last_mut() {
                                    *b ^= 1;
                                }
                            }
                            v
                        },
                    })
                    .collect();
                (j, FrostRound1P2P { shares })
            })
            .collect();

        let send_shares = async {
            let sends = p2p_msgs.iter().map(|(j, msg)| self.send_p2p(*j, msg));
            futures::future::try_join_all(sends).await
        };
        let bcast_r1 = async {
            self.bcast
                .broadcast(self.net.as_ref(), protocols::MSG_FROST_ROUND1_CAST, &casts)
                .await
                .map_err(|e| self.fail(1, format!("round-1 broadcast: {e}")))
        };
        let collect_r1 = self.collect_first(1, &mut r1_rx, "round-1 casts");
        let (_, _, r1_deliveries) = tokio::try_join!(send_shares, bcast_r1, collect_r1)?;
        let p2p = self
            .while_alive(
                1,
                "round-1 shares",
                async { Ok(self.round1_p2p.wait_all_except(Some(self.own())).await) },
                || {
                    (0..self.n())
                        .filter(|&i| i != self.own() && self.round1_p2p.get(i).is_none())
                        .collect()
                },
            )
            .await?;

        // Decode everything, keyed per validator by sender share index.
        let mut bcasts: Vec<BTreeMap<u32, Round1Bcast>> = vec![BTreeMap::new(); v];
        let mut shares_in: Vec<BTreeMap<u32, ShamirShare>> = vec![BTreeMap::new(); v];
        for (sender, d) in r1_deliveries {
            let src = sender as u32 + 1;
            let msg: FrostRound1Casts = d
                .decode()
                .map_err(|e| self.fail(1, format!("operator {sender}: {e}")))?;
            let ordered = validate_round1_casts(&msg, src, v, t as usize)
                .map_err(|e| self.fail(1, format!("operator {sender}: {e}")))?;
            for (vi, c) in ordered.into_iter().enumerate() {
                let b = Round1Bcast::from_slices(&c.commitments, &c.wi, &c.ci)
                    .map_err(|e| self.fail(1, format!("operator {sender}, validator {vi}: {e}")))?;
                if let Some(m) = bcasts.get_mut(vi) {
                    m.insert(src, b);
                }
            }
        }
        for (sender, slot) in p2p.into_iter().enumerate() {
            let Some(msg) = slot else { continue };
            let src = sender as u32 + 1;
            let ordered = crate::p2p::frostp2p::validate_round1_p2p(&msg, src, me, v)
                .map_err(|e| self.fail(1, format!("operator {sender}: {e}")))?;
            for (vi, s) in ordered.into_iter().enumerate() {
                let sh = ShamirShare::from_slice(s.id, &s.value).map_err(|e| {
                    self.fail(
                        1,
                        format!(
                            "invalid FROST share from operator {sender} for validator {vi}: {e}"
                        ),
                    )
                })?;
                if let Some(m) = shares_in.get_mut(vi) {
                    m.insert(src, sh);
                }
            }
        }
        let inputs: Vec<Round2Input<'_>> = participants
            .iter()
            .enumerate()
            .map(|(vi, p)| Round2Input {
                validator: vi,
                participant: p,
                bcasts: &bcasts[vi],
                shares: &shares_in[vi],
            })
            .collect();
        let results: Vec<Round2Result> = round2_batch(&inputs).map_err(|e| {
            let who = e
                .peer()
                .map(|p| {
                    format!(
                        "operator {} sent an invalid FROST contribution",
                        p.saturating_sub(1)
                    )
                })
                .unwrap_or_else(|| "invalid FROST contribution".into());
            self.fail(1, format!("{who}: {e}"))
        })?;
        tracing::info!(
            validators = v,
            elapsed_s = format!("{:.3}", started.elapsed().as_secs_f64()),
            "FROST round 2 verified"
        );

        let casts2 = FrostRound2Casts {
            casts: results
                .iter()
                .enumerate()
                .map(|(vi, r)| {
                    let b = r.bcast();
                    FrostRound2Cast {
                        key: Some(key(vi, me, 0)),
                        verification_key: b.verification_key.to_vec(),
                        vk_share: b.vk_share.to_vec(),
                    }
                })
                .collect(),
        };
        let bcast_r2 = async {
            self.bcast
                .broadcast(self.net.as_ref(), protocols::MSG_FROST_ROUND2_CAST, &casts2)
                .await
                .map_err(|e| self.fail(1, format!("round-2 broadcast: {e}")))
        };
        let collect_r2 = self.collect_first(1, &mut r2_rx, "round-2 casts");
        let (_, r2_deliveries) = tokio::try_join!(bcast_r2, collect_r2)?;
        let mut r2: Vec<BTreeMap<u32, Round2Bcast>> = results
            .iter()
            .map(|r| BTreeMap::from([(me, r.bcast())]))
            .collect();
        for (sender, d) in r2_deliveries {
            let src = sender as u32 + 1;
            let msg: FrostRound2Casts = d
                .decode()
                .map_err(|e| self.fail(1, format!("operator {sender}: {e}")))?;
            let ordered = validate_round2_casts(&msg, src, v)
                .map_err(|e| self.fail(1, format!("operator {sender}: {e}")))?;
            for (vi, c) in ordered.into_iter().enumerate() {
                let b = Round2Bcast::from_slices(&c.verification_key, &c.vk_share)
                    .map_err(|e| self.fail(1, format!("operator {sender}, validator {vi}: {e}")))?;
                if let Some(m) = r2.get_mut(vi) {
                    m.insert(src, b);
                }
            }
        }
        let mut out = Vec::with_capacity(v);
        for (vi, (res, casts)) in results.into_iter().zip(r2).enumerate() {
            res.check_all_bcasts(vi, &casts).map_err(|e| {
                let who = e
                    .peer()
                    .map(|p| format!("operator {}: ", p.saturating_sub(1)))
                    .unwrap_or_default();
                self.fail(1, format!("{who}{e}"))
            })?;
            let prepared = res
                .public_shares
                .iter()
                .map(|(i, pk)| pk.prepare().map(|p| (*i, p)))
                .collect::<Result<_, _>>()
                .map_err(|e| self.fail(1, format!("validator {vi} public share: {e}")))?;
            out.push(Share {
                pubkey: res.verification_key,
                secret: res.sk_share,
                public_shares: res.public_shares,
                prepared,
            });
        }
        tracing::info!(
            validators = v,
            elapsed_s = format!("{:.3}", started.elapsed().as_secs_f64()),
            "FROST complete: all validators' keys agreed"
        );
        Ok(out)
    }

    async fn send_p2p(&self, peer: usize, msg: &FrostRound1P2P) -> Result<(), CeremonyError> {
        let policy = SendPolicy::DEFAULT;
        with_retries(&policy, || async {
            let mut s = self
                .net
                .open(peer, protocols::FROST_ROUND1_P2P)
                .await
                .map_err(|e| e.to_string())?;
            crate::p2p::frostp2p::send_round1_p2p(&mut s, msg)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| self.fail(1, format!("send round-1 shares to operator {peer}: {e}")))
    }

    /// Collects the first broadcast delivery of every other operator.
    async fn collect_first(
        &self,
        step: u64,
        rx: &mut UnboundedReceiver<Delivery>,
        what: &str,
    ) -> Result<Vec<(usize, Delivery)>, CeremonyError> {
        // Same liveness rule as `while_alive`; inlined because the pending
        // set is the map this loop fills.
        let mut got: HashMap<usize, Delivery> = HashMap::new();
        let start = Instant::now();
        let mut last_log = start;
        while got.len() < self.n() - 1 {
            match tokio::time::timeout(LIVENESS_POLL, rx.recv()).await {
                Ok(Some(d)) => {
                    if d.sender != self.own() {
                        got.entry(d.sender).or_insert(d);
                    }
                }
                Ok(None) => return Err(self.fail(step, "broadcast channel closed")),
                Err(_) => {
                    let missing: Vec<usize> = (0..self.n())
                        .filter(|i| *i != self.own() && !got.contains_key(i))
                        .collect();
                    let gone = self.silent(&missing, start);
                    if !gone.is_empty() {
                        return Err(self.gone(step, what, &gone));
                    }
                    if last_log.elapsed() >= PROGRESS_LOG_EVERY {
                        tracing::info!(
                            "Still waiting for {what} from operator(s) {}; they are connected and working",
                            self.describe(&missing)
                        );
                        last_log = Instant::now();
                    }
                }
            }
        }
        let mut v: Vec<(usize, Delivery)> = got.into_iter().collect();
        v.sort_by_key(|(i, _)| *i);
        Ok(v)
    }

    /// Signs `roots[v]` with each validator's share, exchanges the partial
    /// signatures with every peer under `sig_type`, verifies all of them and
    /// combines each validator's into the group signature.
    async fn exchange(
        &self,
        step: u64,
        sig_type: u64,
        what: &str,
        shares: &[Share],
        roots: &[[u8; 32]],
        combine: Combine,
    ) -> Result<Vec<Signature>, CeremonyError> {
        let me = self.share_idx();
        // Each root is hashed to G2 once, for our signature and every check.
        let hashed: Vec<bls::HashedMessage> =
            roots.iter().map(|r| bls::HashedMessage::new(r)).collect();
        let own: BTreeMap<[u8; 48], [u8; 96]> = shares
            .iter()
            .zip(&hashed)
            .map(|(s, h)| (s.pubkey.0, s.secret.sign_hashed(h).0))
            .collect();
        let own_entries: Vec<(PublicKey, Signature)> = own
            .iter()
            .map(|(p, s)| (PublicKey(*p), Signature(*s)))
            .collect();
        self.parsigs
            .insert(sig_type, u64::from(me), &own_entries)
            .map_err(|e| self.fail(step, e))?;
        let msg = build_msg(sig_type, me, &own);
        let sends = (0..self.n()).filter(|&j| j != self.own()).map(|j| {
            let msg = &msg;
            async move {
                with_retries(&SendPolicy::DEFAULT, || async {
                    let mut s = self
                        .net
                        .open(j, protocols::PARSIGEX)
                        .await
                        .map_err(|e| e.to_string())?;
                    send_msg(&mut s, msg).await.map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| {
                    self.fail(
                        step,
                        format!(
                            "send {what} partial signatures to operator {j}: {e}{}",
                            self.isolation_hint()
                        ),
                    )
                })
            }
        });
        futures::future::try_join_all(sends).await?;
        let pubkeys: Vec<PublicKey> = shares.iter().map(|s| s.pubkey).collect();
        let slots = self
            .parsigs
            .wait_complete(sig_type, what, &pubkeys, self.cfg.timeout)
            .await
            .map_err(|e| match &e {
                super::parsig::ParSigError::Timeout { missing, .. } => self.fail(
                    step,
                    format!(
                        "timed out waiting for {what} partial signatures from operator(s) {}{}",
                        self.describe(missing),
                        self.isolation_hint()
                    ),
                ),
                _ => self.fail(step, e),
            })?;

        // Every partial is verified against its public share in one batch
        // (naming the operator and validator on failure) and merged.
        let mut lists: Vec<Vec<(u64, bls::PreparedKey, Signature)>> =
            Vec::with_capacity(shares.len());
        let mut index = Vec::with_capacity(shares.len() * self.n());
        for (vi, (share, slot)) in shares.iter().zip(&slots).enumerate() {
            let mut list = Vec::with_capacity(slot.len());
            for (&idx, sig) in slot {
                let pk = share.prepared.get(&(idx as u32)).ok_or_else(|| {
                    self.fail(step, format!("no public share {idx} for validator {vi}"))
                })?;
                list.push((idx, *pk, *sig));
                index.push((vi, idx));
            }
            lists.push(list);
        }
        let (sets, merge): (Vec<bls::PartialSet<'_>>, _) = match combine {
            Combine::Threshold => (
                lists
                    .iter()
                    .zip(&hashed)
                    .map(|(partials, msg)| bls::PartialSet { msg, partials })
                    .collect(),
                bls::Merge::Threshold(self.checked.definition.threshold as usize),
            ),
            // Every root is the same: one set of all partials, one sum.
            Combine::Aggregate => {
                let flat: Vec<_> = lists.iter().flatten().copied().collect();
                lists = vec![flat];
                (
                    match (lists.first(), hashed.first()) {
                        (Some(partials), Some(msg)) => vec![bls::PartialSet { msg, partials }],
                        _ => Vec::new(),
                    },
                    bls::Merge::Sum,
                )
            }
        };
        bls::verify_and_combine(&sets, merge, &mut OsRng).map_err(|e| match e {
            bls::BlsError::ItemEncoding { position, .. }
            | bls::BlsError::ItemVerify { position } => {
                let (vi, idx) = index.get(position).copied().unwrap_or((0, 0));
                self.fail(
                    step,
                    format!(
                        "invalid {what} partial signature from operator {} for validator {vi}",
                        idx.saturating_sub(1)
                    ),
                )
            }
            other => self.fail(step, format!("{what} signatures: {other}")),
        })
    }

    /// Step 2: one exchange per deposit amount (ascending).
    async fn deposits(&self, shares: &[Share]) -> Result<Vec<Vec<DepositData>>, CeremonyError> {
        let def = &self.checked.definition;
        let fork = fork4(&self.checked.network);
        let mut out: Vec<Vec<DepositData>> = vec![Vec::new(); shares.len()];
        for (ai, &amount) in self.checked.deposit_amounts.iter().enumerate() {
            let mut roots = Vec::with_capacity(shares.len());
            let mut wcs = Vec::with_capacity(shares.len());
            for (vi, s) in shares.iter().enumerate() {
                let addr = def
                    .validator_addresses(vi)
                    .map(|a| a.withdrawal_address.as_str())
                    .unwrap_or_default();
                let addr = crate::lock::k1::parse_address(addr)
                    .map_err(|e| self.fail(2, format!("validator {vi} withdrawal address: {e}")))?;
                let wc = signing::withdrawal_credentials(&addr, def.compounding);
                roots.push(signing::deposit_signing_root(
                    &s.pubkey.0,
                    &wc,
                    amount,
                    fork,
                ));
                wcs.push(wc);
            }
            let what = format!("deposit ({} gwei)", amount);
            let sigs = self
                .exchange(
                    2,
                    deposit_sig_type(ai),
                    &what,
                    shares,
                    &roots,
                    Combine::Threshold,
                )
                .await?;
            for (vi, sig) in sigs.into_iter().enumerate() {
                if let (Some(list), Some(s), Some(wc)) =
                    (out.get_mut(vi), shares.get(vi), wcs.get(vi))
                {
                    list.push(DepositData {
                        pubkey: s.pubkey.0.to_vec(),
                        withdrawal_credentials: wc.to_vec(),
                        amount,
                        signature: sig.0.to_vec(),
                    });
                }
            }
            tracing::info!(
                amount_gwei = amount,
                validators = shares.len(),
                "Deposit data signed"
            );
        }
        Ok(out)
    }

    /// Step 3: pre-generated builder registrations.
    async fn registrations(
        &self,
        shares: &[Share],
    ) -> Result<Vec<BuilderRegistration>, CeremonyError> {
        let def = &self.checked.definition;
        let fork = fork4(&self.checked.network);
        let gas = if def.target_gas_limit == 0 {
            DEFAULT_GAS_LIMIT
        } else {
            def.target_gas_limit
        };
        let ts = self.checked.network.genesis_time;
        let mut fees = Vec::with_capacity(shares.len());
        let mut roots = Vec::with_capacity(shares.len());
        for (vi, s) in shares.iter().enumerate() {
            let fee = def
                .validator_addresses(vi)
                .map(|a| a.fee_recipient_address.as_str())
                .unwrap_or_default();
            let fee = crate::lock::k1::parse_address(fee)
                .map_err(|e| self.fail(3, format!("validator {vi} fee recipient: {e}")))?;
            roots.push(signing::registration_signing_root(
                &fee,
                gas,
                ts,
                &s.pubkey.0,
                fork,
            ));
            fees.push(fee);
        }
        let sigs = self
            .exchange(
                3,
                SIG_VALIDATOR_REGISTRATION,
                "builder registration",
                shares,
                &roots,
                Combine::Threshold,
            )
            .await?;
        Ok(sigs
            .into_iter()
            .zip(shares.iter().zip(fees))
            .map(|(sig, (s, fee))| BuilderRegistration {
                message: RegistrationMessage {
                    fee_recipient: fee.to_vec(),
                    gas_limit: gas,
                    timestamp: ts,
                    pubkey: s.pubkey.0.to_vec(),
                },
                signature: sig.0.to_vec(),
            })
            .collect())
    }

    fn build_lock(
        &self,
        shares: &[Share],
        deposits: Vec<Vec<DepositData>>,
        registrations: Vec<BuilderRegistration>,
    ) -> Result<Lock, CeremonyError> {
        let def = self.checked.definition.clone();
        let version = def.version;
        let validators = shares
            .iter()
            .zip(deposits)
            .zip(registrations)
            .map(|((s, dd), reg)| DistValidator {
                pubkey: s.pubkey.0.to_vec(),
                public_shares: s.public_shares.values().map(|p| p.0.to_vec()).collect(),
                deposit_data: dd,
                builder_registration: if version.has_registrations() {
                    reg
                } else {
                    BuilderRegistration::default()
                },
            })
            .collect();
        let lock = Lock {
            definition: def,
            validators,
            signature_aggregate: Vec::new(),
            signature_aggregate_null: false,
            lock_hash: Vec::new(),
            node_signatures: Vec::new(),
        };
        // charon hashes the definition as loaded (its stored config hash is
        // part of the lock hash); only the JSON output refreshes it.
        let lock_hash = lock
            .lock_hash()
            .map_err(|e| self.fail(4, format!("lock hash: {e}")))?;
        Ok(Lock {
            lock_hash: lock_hash.to_vec(),
            ..lock
        })
    }

    /// Step 4: every share signs the lock hash; the aggregate of all n x V
    /// partial signatures becomes `signature_aggregate`.
    async fn lock_signature(
        &self,
        shares: &[Share],
        lock: &mut Lock,
    ) -> Result<[u8; 32], CeremonyError> {
        let lock_hash: [u8; 32] = lock
            .lock_hash
            .as_slice()
            .try_into()
            .map_err(|_| self.fail(4, "lock hash is not 32 bytes"))?;
        let roots = vec![lock_hash; shares.len()];
        // Each partial was verified against its public share, so their sum is
        // a valid aggregate over all n x V shares; step 6 checks it again.
        let agg = self
            .exchange(4, SIG_LOCK, "lock hash", shares, &roots, Combine::Aggregate)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| self.fail(4, "no lock hash signatures"))?;
        lock.signature_aggregate = agg.0.to_vec();
        tracing::info!(lock_hash = %format!("0x{}", hex::encode(lock_hash)), "Lock hash signed by every share");
        Ok(lock_hash)
    }

    /// Step 5: node (ENR key) signatures over the lock hash via bcast.
    async fn node_signatures(
        &self,
        mut rx: UnboundedReceiver<Delivery>,
        lock_hash: &[u8; 32],
    ) -> Result<Vec<Vec<u8>>, CeremonyError> {
        let msg = crate::p2p::nodesig::build(&self.signing_key, lock_hash, self.own())
            .map_err(|e| self.fail(5, e))?;
        let own_sig = msg.signature.clone();
        let collector = NodeSigs::new(self.own(), self.peers.keys.clone());
        let bc = async {
            self.bcast
                .broadcast(self.net.as_ref(), protocols::MSG_NODE_SIG, &msg)
                .await
                .map_err(|e| self.fail(5, format!("node signature broadcast: {e}")))
        };
        let collect = async {
            let deliveries = self.collect_first(5, &mut rx, "node signatures").await?;
            for (sender, d) in deliveries {
                let m: MsgNodeSig = d
                    .decode()
                    .map_err(|e| self.fail(5, format!("operator {sender}: {e}")))?;
                collector.offer(sender, &m).map_err(|e| self.fail(5, e))?;
            }
            collector
                .wait_all(lock_hash, &own_sig)
                .await
                .map_err(|e| self.fail(5, e))
        };
        let (_, sigs) = tokio::try_join!(bc, collect)?;
        Ok(sigs)
    }

    /// The lock and deposit files; keystores are added by [`add_keystores`]
    /// unless the keys go to a keymanager.
    fn outputs(&self, lock: &Lock, shares: &[Share]) -> Result<OutputSet, CeremonyError> {
        let mut set = OutputSet::default();
        // One deposit file per amount.
        for &amount in &self.checked.deposit_amounts {
            let dds: Vec<crate::lock::deposit::DepositData> = lock
                .validators
                .iter()
                .filter_map(|v| v.deposit_data.iter().find(|d| d.amount == amount))
                .filter_map(to_eth_deposit)
                .collect();
            if dds.len() != shares.len() {
                return Err(self.fail(6, format!("missing deposit data for amount {amount} gwei")));
            }
            let bytes = crate::lock::deposit::marshal_deposit_data(&dds, &self.checked.network)
                .map_err(|e| self.fail(6, e))?;
            set.add(
                crate::lock::deposit::deposit_file_name(amount),
                bytes,
                0o444,
            );
        }
        let json = lock.to_json().map_err(|e| self.fail(6, e))?;
        set.add(LOCK_FILE, json, 0o444);
        Ok(set)
    }

    /// Waits for the sync client towards `peer` to deliver our shutdown, or
    /// stops it once the peer has announced step 8 and stayed disconnected
    /// for [`LEFT_AFTER_SHUTDOWN`]: a peer only leaves after its own handshake
    /// completed (or timed out), so retrying towards it (each attempt a full
    /// stream-open timeout) would only delay our exit by tens of seconds.
    async fn client_done_or_peer_gone(&self, peer: usize, mut task: tokio::task::JoinHandle<()>) {
        let Some(id) = self.peers.ids.get(peer).copied() else {
            let _ = task.await;
            return;
        };
        let mut gone_since: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = &mut task => return,
                () = tokio::time::sleep(LIVENESS_POLL) => {}
            }
            let announced = self
                .sync
                .peer_steps()
                .get(peer)
                .copied()
                .flatten()
                .is_some_and(|s| s >= 8);
            let left = announced && !self.net.host.connected_peers().contains(&id);
            match gone_since {
                _ if !left => gone_since = None,
                None => gone_since = Some(Instant::now()),
                Some(t) if t.elapsed() >= LEFT_AFTER_SHUTDOWN => {
                    task.abort();
                    tracing::debug!(
                        operator = peer,
                        "Operator {peer} has left after its shutdown handshake; not retrying ours"
                    );
                    return;
                }
                Some(_) => {}
            }
        }
    }

    /// Step 8: report it, send our shutdown to every peer and wait until each
    /// has answered it (so no peer waits on us) and has sent its own.
    async fn shutdown(&mut self, client_tasks: Vec<(usize, tokio::task::JoinHandle<()>)>) {
        let r = tokio::time::timeout(SHUTDOWN_TIMEOUT, async {
            self.barrier(8).await?;
            self.local.begin_shutdown();
            let this = &*self;
            futures::future::join_all(
                client_tasks
                    .into_iter()
                    .map(|(peer, task)| this.client_done_or_peer_gone(peer, task)),
            )
            .await;
            self.sync
                .await_all_shutdown()
                .await
                .map_err(|e| CeremonyError::Sync(e.to_string()))
        })
        .await;
        match r {
            Ok(Ok(())) => tracing::info!("All peers shut down cleanly"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Shutdown handshake incomplete; outputs are complete")
            }
            Err(_) => tracing::warn!("Shutdown handshake timed out; outputs are complete"),
        }
    }
}

#[derive(Clone, Copy)]
enum Combine {
    /// Lagrange interpolation of the partials (deposits, registrations).
    Threshold,
    /// Plain aggregate (the lock hash: every share signs).
    Aggregate,
}

/// Stages `validator_keys/keystore-<i>.{json,txt}` (0444 / 0400).
fn add_keystores(set: &mut OutputSet, keystores: &[(keystore::Keystore, keystore::Password)]) {
    for (i, (ks, pw)) in keystores.iter().enumerate() {
        set.add(
            format!("{KEYS_DIR}/keystore-{i}.json"),
            keystore::to_json(ks),
            0o444,
        );
        set.add(
            format!("{KEYS_DIR}/keystore-{i}.txt"),
            pw.expose().as_bytes().to_vec(),
            0o400,
        );
    }
}

fn key(val_idx: usize, source: u32, target: u32) -> FrostMsgKey {
    FrostMsgKey {
        val_idx: val_idx as u32,
        source_id: source,
        target_id: target,
    }
}

fn fork4(n: &Network) -> [u8; 4] {
    n.genesis_fork_version
}

fn to_eth_deposit(d: &DepositData) -> Option<crate::lock::deposit::DepositData> {
    Some(crate::lock::deposit::DepositData {
        pubkey: d.pubkey.as_slice().try_into().ok()?,
        withdrawal_credentials: d.withdrawal_credentials.as_slice().try_into().ok()?,
        amount: d.amount,
        signature: d.signature.as_slice().try_into().ok()?,
    })
}
