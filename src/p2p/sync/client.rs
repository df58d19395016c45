//! The sync client towards one peer, and the state all clients share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use futures::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use k256::ecdsa::SigningKey;
use prost::Message;
use tokio::sync::Notify;

use crate::p2p::frame::{FrameError, write_sized};
use crate::p2p::proto::Timestamp;
use crate::p2p::proto::dkgpb::{MsgSync, MsgSyncResponse};
use crate::p2p::protocols::{Compat, SYNC};
use crate::p2p::stream::OpenStream;

use super::error::SyncError;
use super::protocol::{
    MAX_NICKNAME_LEN, MAX_RECONNECT_DELAY, SYNC_PERIOD, definition_hash_signature, peer_text,
    read_frame,
};

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

impl SyncClient {
    /// The operator this client talks to.
    pub fn peer(&self) -> usize {
        self.peer
    }
}
