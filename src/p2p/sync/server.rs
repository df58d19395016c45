//! The sync server: one long-lived inbound stream per peer.

use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use futures::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use k256::ecdsa::VerifyingKey;
use prost::Message;
use tokio::sync::Notify;

use crate::p2p::frame::{FrameError, write_sized};
use crate::p2p::k1sig::{K1Error, verify_der};
use crate::p2p::proto::Timestamp;
use crate::p2p::proto::dkgpb::{MsgSync, MsgSyncResponse};
use crate::p2p::protocols::Compat;

use super::error::SyncError;
use super::protocol::{RESTART_ERROR, check_version, next_peer_step, read_frame};

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
