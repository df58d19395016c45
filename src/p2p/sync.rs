//! The sync protocol `/charon/dkg/sync/1.0.0/`: mutual authentication of the
//! definition, version check, step barriers and graceful shutdown.
//!
//! Every node runs one [`SyncServer`] (one long-lived inbound stream per
//! peer) and one [`SyncClient`] per peer (a request every 100 ms). Framing is
//! the 8-byte little-endian length prefix, not varint.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use k256::ecdsa::{SigningKey, VerifyingKey};
use prost::Message;
use tokio::sync::Notify;

use super::frame::{FrameError, read_sized_max, write_sized};
use super::k1sig::{K1Error, sign_der, verify_der};
use super::limits::MAX_SYNC_MESSAGE;
use super::proto::Timestamp;
use super::proto::dkgpb::{MsgSync, MsgSyncResponse};
use super::protocols::{Compat, SYNC};
use super::stream::OpenStream;

/// Interval between client requests.
pub const SYNC_PERIOD: Duration = Duration::from_millis(100);
/// Longest pause between client reconnection attempts.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// The "shutdown ready" step reported before `shutdown = true`.
pub const SHUTDOWN_STEP: i64 = 8;
/// Longest wait for a peer's next sync frame. Peers send one every 100 ms, so
/// a stream silent this long is dead or hostile; ending it frees its task (a
/// live peer just reconnects).
pub const SYNC_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest nickname charon accepts.
pub const MAX_NICKNAME_LEN: usize = 32;

/// Error text a server sends (and sets locally) when a peer's step history is
/// inconsistent, e.g. because it restarted mid-ceremony.
pub const RESTART_ERROR: &str = "detected inconsistent peer sync state (node restarted mid-ceremony), ceremony aborted: all operators must stop charon and restart the ceremony together";

/// Longest piece of peer-controlled text (error replies, versions) kept in
/// errors and logs; a sync frame can carry 32 MiB.
pub const MAX_PEER_TEXT: usize = 512;

/// `s` made safe for one log line: cut to [`MAX_PEER_TEXT`] characters and
/// control characters (forged newlines, terminal escapes) replaced.
pub fn peer_text(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_PEER_TEXT)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX_PEER_TEXT).is_some() {
        out.push('…');
    }
    out
}

/// Sync failure; peer numbers are operator indices.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SyncError {
    /// A peer told us a fatal error.
    #[error("operator {peer} responded with error: {error}")]
    PeerError {
        /// Remote operator.
        peer: usize,
        /// Its message.
        error: String,
    },
    /// A peer's sync message was invalid (fatal for the ceremony).
    #[error("invalid sync message from operator {peer}: {reason}")]
    InvalidMessage {
        /// Remote operator.
        peer: usize,
        /// Why.
        reason: String,
    },
    /// A peer is more than one step ahead at a barrier.
    #[error("operator {peer} step is too far ahead: at {theirs}, we wait for {ours}")]
    TooFarAhead {
        /// Remote operator.
        peer: usize,
        /// Its step.
        theirs: i64,
        /// Barrier step.
        ours: i64,
    },
    /// Stream or framing failure.
    #[error("sync stream with operator {peer}: {reason}")]
    Stream {
        /// Remote operator.
        peer: usize,
        /// Why.
        reason: String,
    },
    /// Bad configuration.
    #[error("invalid sync configuration: {0}")]
    Config(String),
}

/// Parses a charon version (`v1.11`, `v1.11.3`, `v1.11-dev`) into
/// `(major, minor)`, following charon's version pattern.
pub fn parse_version(v: &str) -> Option<(u64, u64)> {
    let rest = v.strip_prefix('v')?;
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    if pre.is_some_and(str::is_empty) {
        return None;
    }
    let mut parts = core.split('.');
    let num = |s: Option<&str>| -> Option<u64> {
        let s = s?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let major = num(parts.next())?;
    let minor = num(parts.next())?;
    if let Some(patch) = parts.next() {
        num(Some(patch))?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor))
}

/// Checks a peer's version against ours: major and minor must be equal.
pub fn check_version(own: Compat, theirs: &str) -> Result<(), String> {
    let own_str = own.minor_version();
    let Some(parsed) = parse_version(theirs) else {
        return Err(format!(
            "parse peer version: invalid version {:?}",
            peer_text(theirs)
        ));
    };
    if Some(parsed) != parse_version(own_str) {
        return Err(format!(
            "mismatching charon version; expect={own_str}, got={}",
            peer_text(theirs)
        ));
    }
    Ok(())
}

/// Next step in a peer's history, per charon's restart detection: the first
/// step is 0 or 1, later ones never go back and jump at most 2.
pub fn next_peer_step(last: Option<i64>, step: i64) -> Result<i64, String> {
    match last {
        None if step == 0 || step == 1 => Ok(step),
        None => Err(format!(
            "peer reported abnormal initial step {step}, expected 0 or 1"
        )),
        Some(last) if step < last => Err(format!(
            "peer reported step is behind the last known step ({step} < {last})"
        )),
        Some(last) if step > last.saturating_add(2) => Err(format!(
            "peer reported step is ahead the last known step ({step} > {last} + 2)"
        )),
        Some(_) => Ok(step),
    }
}

/// The `hash_signature` of our sync messages: DER ECDSA over
/// `sha256(definition_hash)` by the ENR key. Computed once.
pub fn definition_hash_signature(
    key: &SigningKey,
    definition_hash: &[u8; 32],
) -> Result<Vec<u8>, K1Error> {
    sign_der(key, definition_hash)
}

#[derive(Clone, Debug, Default)]
struct PeerState {
    connected: bool,
    step: Option<i64>,
    shutdown: bool,
    /// When the last valid message arrived: charon peers send one every
    /// 100 ms, so silence means the peer is gone, not merely slow.
    last_heard: Option<Instant>,
}

#[derive(Debug, Default)]
struct ServerState {
    peers: Vec<PeerState>,
    error: Option<SyncError>,
}

/// The local sync server: validates every peer's messages, answers them and
/// tracks connectivity, steps and shutdowns.
#[derive(Debug)]
pub struct SyncServer {
    compat: Compat,
    definition_hash: [u8; 32],
    own: usize,
    peers: Vec<VerifyingKey>,
    state: Mutex<ServerState>,
    changed: Notify,
}

impl SyncServer {
    /// Creates the server for operator `own` of `peers` (ENR keys in operator order).
    pub fn new(
        compat: Compat,
        definition_hash: [u8; 32],
        own: usize,
        peers: Vec<VerifyingKey>,
    ) -> Result<Self, SyncError> {
        if own >= peers.len() {
            return Err(SyncError::Config(format!(
                "own index {own} out of range for {} operators",
                peers.len()
            )));
        }
        let n = peers.len();
        Ok(SyncServer {
            compat,
            definition_hash,
            own,
            peers,
            state: Mutex::new(ServerState {
                peers: vec![PeerState::default(); n],
                error: None,
            }),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ServerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut ServerState)) {
        f(&mut self.lock());
        self.changed.notify_waiters();
    }

    fn set_error(&self, err: SyncError) {
        self.update(|s| {
            s.error.get_or_insert(err);
        });
    }

    /// Records a fatal error found outside the server (a peer's error reply
    /// to our client), so every wait of the ceremony ends with it, as charon
    /// cancels its whole ceremony on any sync failure.
    pub fn record_fatal(&self, err: SyncError) {
        self.set_error(err);
    }

    /// The first fatal error seen, if any.
    pub fn error(&self) -> Option<SyncError> {
        self.lock().error.clone()
    }

    /// Validates one message from `peer` and builds the response. Returns the
    /// response and whether the stream must end after it. A peer's shutdown is
    /// recorded by [`SyncServer::serve`] only once the reply is written, so our
    /// own shutdown cannot cut the connection before the peer has its answer.
    pub fn handle(&self, peer: usize, msg: &MsgSync) -> (MsgSyncResponse, bool) {
        let echo = msg
            .timestamp
            .unwrap_or_else(|| Timestamp::from(SystemTime::now()));
        let respond = |error: String, end: bool| {
            (
                MsgSyncResponse {
                    sync_timestamp: Some(echo),
                    error,
                },
                end,
            )
        };
        if let Err(reason) = self.validate(peer, msg) {
            self.set_error(SyncError::InvalidMessage {
                peer,
                reason: reason.clone(),
            });
            return respond(reason, false);
        }
        let mut result = Ok(());
        self.update(|s| {
            let Some(st) = s.peers.get_mut(peer) else {
                return;
            };
            st.connected = true;
            st.last_heard = Some(Instant::now());
            match next_peer_step(st.step, msg.step) {
                Ok(step) => st.step = Some(step),
                Err(reason) => {
                    let text = format!("{RESTART_ERROR}: {reason}");
                    s.error.get_or_insert(SyncError::InvalidMessage {
                        peer,
                        reason: text.clone(),
                    });
                    result = Err(text);
                }
            }
        });
        match result {
            Err(text) => respond(text, true),
            Ok(()) => respond(String::new(), msg.shutdown),
        }
    }

    fn validate(&self, peer: usize, msg: &MsgSync) -> Result<(), String> {
        let key = match self.peers.get(peer) {
            Some(key) if peer != self.own => key,
            _ => return Err(format!("sync message from invalid operator index {peer}")),
        };
        check_version(self.compat, &msg.version)?;
        verify_der(key, &self.definition_hash, &msg.hash_signature).map_err(|e| match e {
            K1Error::Mismatch => "invalid definition hash signature".to_owned(),
            e => format!("error verifying definition hash signature: {e}"),
        })
    }

    /// Serves one inbound sync stream from operator `peer` until the peer
    /// shuts down, closes the stream, or its step history is inconsistent.
    pub async fn serve<S>(&self, peer: usize, stream: &mut S) -> Result<(), SyncError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let stream_err = |e: FrameError| SyncError::Stream {
            peer,
            reason: e.to_string(),
        };
        loop {
            let body = match read_frame(stream).await {
                Ok(body) => body,
                Err(FrameError::Closed) => return Ok(()),
                Err(e) => return Err(stream_err(e)),
            };
            let msg = MsgSync::decode(body.as_slice()).map_err(|e| SyncError::Stream {
                peer,
                reason: format!("invalid MsgSync: {e}"),
            })?;
            let (resp, end) = self.handle(peer, &msg);
            write_sized(stream, &resp.encode_to_vec())
                .await
                .map_err(stream_err)?;
            if msg.shutdown && resp.error.is_empty() {
                self.update(|s| {
                    if let Some(st) = s.peers.get_mut(peer) {
                        st.shutdown = true;
                    }
                });
            }
            if end {
                let _ = stream.close().await;
                return Ok(());
            }
        }
    }

    async fn wait_for<T>(
        &self,
        mut ready: impl FnMut(&ServerState) -> Option<Result<T, SyncError>>,
    ) -> Result<T, SyncError> {
        loop {
            let notified = self.changed.notified();
            {
                let state = self.lock();
                if let Some(err) = &state.error {
                    return Err(err.clone());
                }
                if let Some(done) = ready(&state) {
                    return done;
                }
            }
            notified.await;
        }
    }

    fn others<'a>(&self, s: &'a ServerState) -> impl Iterator<Item = (usize, &'a PeerState)> {
        let own = self.own;
        s.peers.iter().enumerate().filter(move |(i, _)| *i != own)
    }

    /// Waits until every other peer has sent a valid message.
    pub async fn await_all_connected(&self) -> Result<(), SyncError> {
        self.wait_for(|s| self.others(s).all(|(_, p)| p.connected).then_some(Ok(())))
            .await
    }

    /// Waits until every other peer reports `step` or `step + 1`; a peer at
    /// `step + 2` or beyond is an error.
    pub async fn await_all_at_step(&self, step: i64) -> Result<(), SyncError> {
        self.wait_for(|s| {
            let mut all = true;
            for (peer, p) in self.others(s) {
                match p.step {
                    Some(theirs) if theirs >= step.saturating_add(2) => {
                        return Some(Err(SyncError::TooFarAhead {
                            peer,
                            theirs,
                            ours: step,
                        }));
                    }
                    Some(theirs) if theirs >= step => {}
                    _ => all = false,
                }
            }
            all.then_some(Ok(()))
        })
        .await
    }

    /// Waits until every other peer has sent `shutdown = true`.
    pub async fn await_all_shutdown(&self) -> Result<(), SyncError> {
        self.wait_for(|s| self.others(s).all(|(_, p)| p.shutdown).then_some(Ok(())))
            .await
    }
}

/// State shared by all of a node's sync clients: the local step and the
/// reconnect/shutdown switches.
#[derive(Debug)]
pub struct SyncLocal {
    compat: Compat,
    hash_signature: Vec<u8>,
    nickname: String,
    step: AtomicI64,
    reconnect: AtomicBool,
    shutdown: AtomicBool,
}

impl SyncLocal {
    /// Signs the definition hash once and starts at step 0.
    pub fn new(
        compat: Compat,
        key: &SigningKey,
        definition_hash: &[u8; 32],
        nickname: &str,
    ) -> Result<Self, SyncError> {
        if nickname.chars().count() > MAX_NICKNAME_LEN {
            return Err(SyncError::Config(format!(
                "nickname longer than {MAX_NICKNAME_LEN} characters"
            )));
        }
        let hash_signature = definition_hash_signature(key, definition_hash)
            .map_err(|e| SyncError::Config(format!("signing definition hash: {e}")))?;
        Ok(SyncLocal {
            compat,
            hash_signature,
            nickname: nickname.to_owned(),
            step: AtomicI64::new(0),
            reconnect: AtomicBool::new(true),
            shutdown: AtomicBool::new(false),
        })
    }

    /// Current local step.
    pub fn step(&self) -> i64 {
        self.step.load(Ordering::SeqCst)
    }

    /// Sets the local step reported on the next tick.
    pub fn set_step(&self, step: i64) {
        self.step.store(step, Ordering::SeqCst);
    }

    /// Disables reconnects and makes every client send `shutdown = true` and exit.
    pub fn begin_shutdown(&self) {
        self.reconnect.store(false, Ordering::SeqCst);
        self.shutdown.store(true, Ordering::SeqCst);
    }

    fn message(&self, shutdown: bool) -> MsgSync {
        MsgSync {
            timestamp: Some(Timestamp::from(SystemTime::now())),
            hash_signature: self.hash_signature.clone(),
            shutdown,
            version: self.compat.minor_version().to_owned(),
            step: self.step(),
            nickname: self.nickname.clone(),
        }
    }
}

/// How a client session ended without error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// Our `shutdown = true` was answered.
    Shutdown,
    /// [`SyncClient::reopen`] asked for a new stream.
    Reopen,
}

/// Sync client towards one peer.
#[derive(Debug)]
pub struct SyncClient {
    peer: usize,
    local: Arc<SyncLocal>,
    connected: AtomicBool,
    answered: AtomicBool,
    reopen: Notify,
}

impl SyncClient {
    /// Client towards operator `peer`.
    pub fn new(peer: usize, local: Arc<SyncLocal>) -> Self {
        SyncClient {
            peer,
            local,
            connected: AtomicBool::new(false),
            answered: AtomicBool::new(false),
            reopen: Notify::new(),
        }
    }

    /// Ends the current session cleanly so that the next stream is opened
    /// over the best connection: the first one may run through a relay
    /// circuit, limited in bytes and time, when a direct connection appears.
    /// Ignored once shutting down.
    pub fn reopen(&self) {
        self.reopen.notify_one();
    }

    /// True while a session is up and answering.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Runs one session on an open stream: a request every 100 ms until our
    /// shutdown is answered (`Ok`), the peer reports an error (fatal
    /// [`SyncError::PeerError`]) or the stream fails ([`SyncError::Stream`]).
    pub async fn run_session<S>(&self, stream: &mut S) -> Result<SessionEnd, SyncError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let result = self.session(stream).await;
        self.connected.store(false, Ordering::SeqCst);
        result
    }

    async fn session<S>(&self, stream: &mut S) -> Result<SessionEnd, SyncError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let peer = self.peer;
        let stream_err = |e: FrameError| SyncError::Stream {
            peer,
            reason: e.to_string(),
        };
        let mut ticker = tokio::time::interval(SYNC_PERIOD);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = self.reopen.notified() => {
                    if !self.local.shutdown.load(Ordering::SeqCst) {
                        let _ = stream.close().await;
                        return Ok(SessionEnd::Reopen);
                    }
                }
            }
            let shutdown = self.local.shutdown.load(Ordering::SeqCst);
            let msg = self.local.message(shutdown);
            write_sized(stream, &msg.encode_to_vec())
                .await
                .map_err(stream_err)?;
            let body = read_frame(stream).await.map_err(stream_err)?;
            let resp = MsgSyncResponse::decode(body.as_slice()).map_err(|e| SyncError::Stream {
                peer,
                reason: format!("invalid MsgSyncResponse: {e}"),
            })?;
            // charon counts any answer to `shutdown = true` as delivered.
            if shutdown {
                self.connected.store(true, Ordering::SeqCst);
                let _ = stream.close().await;
                return Ok(SessionEnd::Shutdown);
            }
            if !resp.error.is_empty() {
                return Err(SyncError::PeerError {
                    peer,
                    error: peer_text(&resp.error),
                });
            }
            self.connected.store(true, Ordering::SeqCst);
            self.answered.store(true, Ordering::SeqCst);
        }
    }

    /// Keeps a session to the peer up, reconnecting with backoff (at most 1 s)
    /// while reconnects are enabled, until shutdown completes or a fatal error.
    pub async fn run<O: OpenStream>(&self, opener: &O) -> Result<(), SyncError> {
        const FIRST_DELAY: Duration = Duration::from_millis(50);
        // A relayed stream can be reset while we shut down; charon retries
        // then too, or the peer would wait its whole shutdown timeout for us.
        const SHUTDOWN_ATTEMPTS: u32 = 5;
        let mut delay = FIRST_DELAY;
        let mut shutdown_attempts = 0;
        loop {
            let outcome = match opener.open(self.peer, SYNC).await {
                Ok(mut stream) => self.run_session(&mut stream).await,
                Err(e) => Err(SyncError::Stream {
                    peer: self.peer,
                    reason: format!("open: {e}"),
                }),
            };
            match outcome {
                Ok(SessionEnd::Shutdown) => return Ok(()),
                Ok(SessionEnd::Reopen) => {
                    tracing::debug!(peer = self.peer, "Reopening the sync stream");
                    delay = FIRST_DELAY;
                }
                Err(e @ SyncError::Stream { .. }) => {
                    if !self.local.reconnect.load(Ordering::SeqCst) {
                        let shutting_down = self.local.shutdown.load(Ordering::SeqCst);
                        shutdown_attempts += 1;
                        if !shutting_down || shutdown_attempts >= SHUTDOWN_ATTEMPTS {
                            return Err(e);
                        }
                    }
                    // A session that worked starts the backoff afresh.
                    if self.answered.swap(false, Ordering::SeqCst) {
                        delay = FIRST_DELAY;
                    }
                    tracing::debug!(peer = self.peer, error = %e, "sync stream lost; reconnecting");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RECONNECT_DELAY);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Reads one sync frame of at most [`MAX_SYNC_MESSAGE`] bytes within
/// [`SYNC_READ_TIMEOUT`].
async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, FrameError> {
    tokio::time::timeout(SYNC_READ_TIMEOUT, read_sized_max(stream, MAX_SYNC_MESSAGE))
        .await
        .unwrap_or_else(|_| {
            Err(FrameError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no sync message within {SYNC_READ_TIMEOUT:?}"),
            )))
        })
}

/// Progress queries the ceremony uses for its logs and error messages.
impl SyncServer {
    /// Operator indices that have sent at least one valid message.
    pub fn connected_peers(&self) -> std::collections::BTreeSet<usize> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.others(&s)
            .filter(|(_, p)| p.connected)
            .map(|(i, _)| i)
            .collect()
    }

    /// When each operator's last valid sync message arrived (`None` for
    /// ourselves and for peers not heard from), in operator order.
    pub fn last_heard(&self) -> Vec<Option<Instant>> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.peers.iter().map(|p| p.last_heard).collect()
    }

    /// The last step each operator reported (`None` for ourselves and for
    /// peers not heard from), in operator order.
    pub fn peer_steps(&self) -> Vec<Option<i64>> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.peers.iter().map(|p| p.step).collect()
    }
}

impl SyncClient {
    /// The operator this client talks to.
    pub fn peer(&self) -> usize {
        self.peer
    }
}
