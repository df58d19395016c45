//! Binds charon's protocol handlers to the libp2p host: one accept loop per
//! protocol, dispatching each inbound stream by the sender's operator index.
//! Every handler is registered before the first connection so that messages
//! of later phases are accepted and buffered from the start (spec §1.3, §10.1).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncWriteExt as _, StreamExt};
use libp2p::{PeerId, Stream};

use crate::p2p::bcast::Bcast;
use crate::p2p::collect::Collector;
use crate::p2p::frostp2p::recv_round1_p2p;
use crate::p2p::host::{Host, IncomingStreams};
use crate::p2p::limits::{MAX_INBOUND_STREAMS_PER_PEER, WireLimits};
use crate::p2p::parsigex::recv_msg;
use crate::p2p::proto::dkgpb::FrostRound1P2P;
use crate::p2p::proto::peerinfopb::PeerInfo;
use crate::p2p::protocols;
use crate::p2p::stream::OpenStream;
use crate::p2p::sync::SyncServer;

use super::parsig::ParSigStore;

/// Outbound stream opener over the host, addressing peers by operator index.
pub struct Net {
    /// The running host.
    pub host: Arc<Host>,
    /// Peer IDs in operator order.
    pub peers: Vec<PeerId>,
    /// Per-attempt open deadline.
    pub open_timeout: Duration,
}

impl OpenStream for Net {
    type Stream = Stream;

    async fn open(&self, peer: usize, protocol: &'static str) -> std::io::Result<Stream> {
        let id = self
            .peers
            .get(peer)
            .copied()
            .ok_or_else(|| std::io::Error::other(format!("no operator {peer}")))?;
        self.host
            .open_stream_within(id, protocol, self.open_timeout)
            .await
            .map_err(std::io::Error::other)
    }
}

/// The inbound side of every protocol the ceremony speaks.
pub struct Handlers {
    /// Sync server (step barriers, shutdown).
    pub sync: Arc<SyncServer>,
    /// Reliable broadcast endpoint.
    pub bcast: Arc<Bcast>,
    /// FROST round-1 shares received, by sender operator index.
    pub round1_p2p: Arc<Collector<FrostRound1P2P>>,
    /// Partial signatures received.
    pub parsigs: Arc<ParSigStore>,
    /// What the peerinfo server answers.
    pub peerinfo: PeerInfo,
    /// Version compatibility (selects the bcast protocol IDs).
    pub bcast_ids: (&'static str, &'static str),
    /// Own operator index.
    pub own: usize,
    /// Number of validators, to validate FROST shares on receipt.
    pub num_validators: usize,
    /// Message bounds of this ceremony.
    pub limits: WireLimits,
}

/// Counts the inbound streams each peer holds open, refusing more than
/// [`MAX_INBOUND_STREAMS_PER_PEER`] at once so that a peer cannot make us
/// spawn a task per stream without end.
#[derive(Clone, Default)]
pub struct StreamBudget {
    open: Arc<Mutex<HashMap<usize, usize>>>,
}

/// One admitted stream; frees its slot on drop.
pub struct StreamSlot {
    budget: StreamBudget,
    peer: usize,
}

impl StreamBudget {
    /// Admits a stream from operator `peer`, or `None` at the cap.
    pub fn admit(&self, peer: usize) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(peer).or_default();
        if *n >= MAX_INBOUND_STREAMS_PER_PEER {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            budget: self.clone(),
            peer,
        })
    }

    /// Streams operator `peer` holds open.
    pub fn open_streams(&self, peer: usize) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&peer).copied().unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.budget.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Runs the accept loop of one protocol: each stream of a cluster peer gets
/// a task while the peer is under its stream budget; streams of other peers
/// and over the budget are dropped at once (reset), without a task.
pub fn spawn_accept_loop<F, Fut>(
    mut incoming: IncomingStreams,
    proto: &'static str,
    index: Arc<HashMap<PeerId, usize>>,
    budget: StreamBudget,
    handle: F,
) where
    F: Fn(usize, Stream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        while let Some((peer, stream)) = incoming.next().await {
            let Some(&sender) = index.get(&peer) else {
                tracing::debug!(%peer, proto, "Stream from a non-cluster peer ignored");
                continue;
            };
            let Some(slot) = budget.admit(sender) else {
                tracing::debug!(
                    operator = sender,
                    proto,
                    "Stream refused: peer holds too many open streams"
                );
                continue;
            };
            let fut = handle(sender, stream);
            tokio::spawn(async move {
                fut.await;
                drop(slot);
            });
        }
    });
}

/// Registers every protocol on the host and spawns its accept loop.
pub fn spawn_handlers(host: &Host, peers: &[PeerId], h: Handlers) -> Result<(), String> {
    let index: Arc<HashMap<PeerId, usize>> =
        Arc::new(peers.iter().enumerate().map(|(i, p)| (*p, i)).collect());
    let h = Arc::new(h);
    let budget = StreamBudget::default();
    let protos: [&'static str; 6] = [
        protocols::SYNC,
        h.bcast_ids.0,
        h.bcast_ids.1,
        protocols::FROST_ROUND1_P2P,
        protocols::PARSIGEX,
        protocols::PEERINFO,
    ];
    for proto in protos {
        let incoming = host.accept(proto).map_err(|e| e.to_string())?;
        let h = h.clone();
        spawn_accept_loop(
            incoming,
            proto,
            index.clone(),
            budget.clone(),
            move |sender, stream| {
                let h = h.clone();
                async move { handle(&h, proto, sender, stream).await }
            },
        );
    }
    Ok(())
}

/// How long a one-shot inbound stream (bcast, FROST shares, parsigex,
/// peerinfo) may take to deliver its message; charon's bcast server allows
/// 60 s, and large parsigex sets over a relay need more than its 5 s default.
const ONE_SHOT_TIMEOUT: Duration = Duration::from_secs(60);

async fn handle(h: &Handlers, proto: &'static str, sender: usize, mut stream: Stream) {
    let result = if proto == protocols::SYNC {
        dispatch(h, proto, sender, &mut stream).await
    } else {
        tokio::time::timeout(ONE_SHOT_TIMEOUT, dispatch(h, proto, sender, &mut stream))
            .await
            .unwrap_or_else(|_| Err(format!("no complete message within {ONE_SHOT_TIMEOUT:?}")))
    };
    // Always end with FIN, as charon's handlers do; dropping an unfinished
    // yamux stream sends RST instead.
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.close()).await;
    if let Err(e) = result {
        tracing::warn!(operator = sender, protocol = proto, error = %e, "Refused message from peer");
    }
}

async fn dispatch(
    h: &Handlers,
    proto: &'static str,
    sender: usize,
    stream: &mut Stream,
) -> Result<(), String> {
    if proto == protocols::SYNC {
        h.sync
            .serve(sender, stream)
            .await
            .map_err(|e| e.to_string())
    } else if proto == h.bcast_ids.0 {
        h.bcast
            .serve_sig(sender, stream)
            .await
            .map_err(|e| e.to_string())
    } else if proto == h.bcast_ids.1 {
        h.bcast
            .serve_msg(sender, stream)
            .await
            .map_err(|e| e.to_string())
    } else if proto == protocols::FROST_ROUND1_P2P {
        match recv_round1_p2p(stream, &h.limits).await {
            Ok(msg) => {
                let own_idx = h.own as u32 + 1;
                match crate::p2p::frostp2p::validate_round1_p2p(
                    &msg,
                    sender as u32 + 1,
                    own_idx,
                    h.num_validators,
                ) {
                    // The first valid message per sender is kept (as charon).
                    Ok(_) => {
                        h.round1_p2p.offer(sender, msg);
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        }
    } else if proto == protocols::PARSIGEX {
        match recv_msg(stream, sender as u32 + 1, &h.limits).await {
            Ok(set) => {
                let entries: Vec<_> = set
                    .sigs
                    .iter()
                    .map(|(pk, sig)| {
                        (
                            crate::frost::bls::PublicKey(*pk),
                            crate::frost::bls::Signature(*sig),
                        )
                    })
                    .collect();
                h.parsigs
                    .insert(set.sig_type, u64::from(set.share_idx), &entries)
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    } else if proto == protocols::PEERINFO {
        crate::p2p::peerinfo::serve(stream, &h.peerinfo)
            .await
            .map_err(|e| e.to_string())
    } else {
        Ok(())
    }
}
