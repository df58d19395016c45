//! charon's reliable broadcast ("bcast"): every peer co-signs the exact bytes
//! of a message (`/sig`), then the sender delivers the message with all n
//! signatures (`/msg`).
//!
//! Hashes are always computed over the `Any` bytes as received, never over a
//! re-encoding. Deliveries are queued per message ID from registration on, so
//! messages of phases we have not reached yet are kept (Go peers never resend).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use futures::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use k256::ecdsa::{SigningKey, VerifyingKey};
use prost::{Message, Name};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::frame::{FrameError, MAX_DELIMITED_SIZE, read_delimited, write_msg};
use super::k1sig::{K1Error, sign65, verify65};
use super::limits::{
    MAX_BCAST_SIG_RESPONSE, WireLimits, scan_bcast_message, scan_frost_round1_casts,
    scan_frost_round2_casts,
};
use super::proto::decode_checked;
use super::proto::dkgpb::{BCastMessage, BCastSigRequest, BCastSigResponse};
use super::proto::{Any, CheckPresent, ProtoError, pack_any, unpack_any};
use super::protocols::Compat;
use super::stream::{
    OpenStream, RetryError, SendPolicy, send_receive, send_with_ack, with_retries, write_ack,
};

/// The bcast hash of a message. v1.11 binds the session (definition hash) and
/// the message ID with u64 big-endian length prefixes; v1.10 hashes
/// `type_url || value` only.
pub fn hash_any(compat: Compat, session_hash: &[u8], msg_id: &str, any: &Any) -> [u8; 32] {
    let mut h = Sha256::new();
    if compat.session_bound_bcast() {
        for part in [
            session_hash,
            msg_id.as_bytes(),
            any.type_url.as_bytes(),
            &any.value,
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
    } else {
        h.update(any.type_url.as_bytes());
        h.update(&any.value);
    }
    h.finalize().into()
}

/// Verifies a full signature set: exactly one valid 65-byte signature per
/// operator, in operator order.
pub fn verify_signatures(
    peers: &[VerifyingKey],
    hash: &[u8; 32],
    sigs: &[Vec<u8>],
) -> Result<(), BcastError> {
    if sigs.len() != peers.len() {
        return Err(BcastError::SignatureCount {
            got: sigs.len(),
            want: peers.len(),
        });
    }
    for (peer, (key, sig)) in peers.iter().zip(sigs).enumerate() {
        verify65(key, hash, sig).map_err(|source| BcastError::BadSignature { peer, source })?;
    }
    Ok(())
}

/// bcast failure; peer numbers are operator indices.
#[derive(Debug, thiserror::Error)]
pub enum BcastError {
    /// A message ID that was never registered.
    #[error("unknown bcast message id {0:?}")]
    UnknownMessageId(String),
    /// The sender index is not a cluster peer (or is ourselves).
    #[error("bcast from invalid peer index {0}")]
    InvalidSender(usize),
    /// The message body is not the registered type.
    #[error("bcast message {msg_id:?} rejected: {source}")]
    Check {
        /// Message ID.
        msg_id: String,
        /// Decoding or type failure.
        source: ProtoError,
    },
    /// Peer asked us to co-sign different bytes for a message ID we already signed for it.
    #[error(
        "duplicate ID, mismatching hash: operator {peer} already had a different {msg_id:?} message co-signed"
    )]
    DuplicateMismatch {
        /// Requesting operator.
        peer: usize,
        /// Message ID.
        msg_id: String,
    },
    /// A fully signed message this endpoint never co-signed: it belongs to
    /// another attempt (a replay), since every sender asks us first.
    #[error(
        "bcast message {msg_id:?} from operator {peer} was not co-signed by this node in this attempt"
    )]
    NotCoSigned {
        /// Sending operator.
        peer: usize,
        /// Message ID.
        msg_id: String,
    },
    /// Wrong number of signatures.
    #[error("invalid number of signatures: got {got}, want {want}")]
    SignatureCount {
        /// Received.
        got: usize,
        /// Operators in the cluster.
        want: usize,
    },
    /// A co-signature does not verify.
    #[error("invalid bcast signature of operator {peer}: {source}")]
    BadSignature {
        /// Signing operator.
        peer: usize,
        /// Why.
        source: K1Error,
    },
    /// Stream or framing failure.
    #[error("bcast stream with operator {peer}: {source}")]
    Stream {
        /// Remote operator.
        peer: usize,
        /// Why.
        source: FrameError,
    },
    /// Opening a stream failed.
    #[error("opening bcast stream to operator {peer}: {source}")]
    Open {
        /// Remote operator.
        peer: usize,
        /// Why.
        source: std::io::Error,
    },
    /// A send gave up after its retries.
    #[error("bcast {what} to operator {peer} failed: {reason}")]
    SendFailed {
        /// `co-signature request` or `message`.
        what: &'static str,
        /// Remote operator.
        peer: usize,
        /// Last failure.
        reason: String,
    },
    /// Local signing failed.
    #[error("signing bcast hash: {0}")]
    Sign(K1Error),
    /// Bad configuration.
    #[error("invalid bcast configuration: {0}")]
    Config(String),
}

/// A verified broadcast message from a peer.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// Sender's operator index.
    pub sender: usize,
    /// Message ID.
    pub msg_id: String,
    /// The message exactly as co-signed.
    pub message: Any,
}

impl Delivery {
    /// Decodes the message as `M` (type URL and presence checked).
    pub fn decode<M: Message + Default + Name + CheckPresent>(&self) -> Result<M, ProtoError> {
        unpack_any(&self.message)
    }
}

type CheckFn = fn(&Any) -> Result<(), ProtoError>;

struct Registration {
    check: CheckFn,
    deliveries: mpsc::UnboundedSender<Delivery>,
}

/// One node's bcast endpoint: server handlers for `/sig` and `/msg` and the
/// broadcasting client. Register every message ID before serving (charon does
/// so before the first sync barrier).
pub struct Bcast {
    compat: Compat,
    session_hash: [u8; 32],
    own: usize,
    key: SigningKey,
    peers: Vec<VerifyingKey>,
    registry: HashMap<String, Registration>,
    limits: Option<WireLimits>,
    signed: Mutex<HashMap<(usize, String), [u8; 32]>>,
    delivered: Mutex<HashSet<(usize, String, [u8; 32])>>,
}

impl std::fmt::Debug for Bcast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bcast")
            .field("compat", &self.compat)
            .field("own", &self.own)
            .field("peers", &self.peers.len())
            .field("message_ids", &self.registry.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Bcast {
    /// Creates an endpoint for operator `own` of `peers` (operator order),
    /// signing with the ENR key. `session_hash` is the definition hash.
    pub fn new(
        compat: Compat,
        session_hash: [u8; 32],
        own: usize,
        key: SigningKey,
        peers: Vec<VerifyingKey>,
    ) -> Result<Self, BcastError> {
        match peers.get(own) {
            Some(pk) if pk == key.verifying_key() => {}
            Some(_) => {
                return Err(BcastError::Config(format!(
                    "signing key does not match operator {own}'s public key"
                )));
            }
            None => {
                return Err(BcastError::Config(format!(
                    "own index {own} out of range for {} operators",
                    peers.len()
                )));
            }
        }
        Ok(Bcast {
            compat,
            session_hash,
            own,
            key,
            peers,
            registry: HashMap::new(),
            limits: None,
            signed: Mutex::new(HashMap::new()),
            delivered: Mutex::new(HashSet::new()),
        })
    }

    /// Registers message ID `msg_id` carrying messages of type `M`. Returns the
    /// queue of verified deliveries from peers (at most one per sender and
    /// content; our own broadcasts are not delivered here).
    pub fn register<M>(&mut self, msg_id: &str) -> mpsc::UnboundedReceiver<Delivery>
    where
        M: Message + Default + Name + CheckPresent,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let check: CheckFn = |any| unpack_any::<M>(any).map(|_| ());
        self.registry.insert(
            msg_id.to_owned(),
            Registration {
                check,
                deliveries: tx,
            },
        );
        rx
    }

    /// Bounds inbound messages by the ceremony's size: read sizes, and the
    /// entry counts of FROST casts and signature lists before decoding.
    /// Without it only charon's 128 MiB frame bound applies.
    pub fn set_limits(&mut self, limits: WireLimits) {
        self.limits = Some(limits);
    }

    fn max_read(&self) -> usize {
        self.limits.map_or(MAX_DELIMITED_SIZE, |l| l.bcast())
    }

    /// Number of operators.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// The hash this endpoint signs for `msg_id` and `any`.
    pub fn hash(&self, msg_id: &str, any: &Any) -> [u8; 32] {
        hash_any(self.compat, &self.session_hash, msg_id, any)
    }

    fn check_sender(&self, sender: usize) -> Result<(), BcastError> {
        if sender == self.own || sender >= self.peers.len() {
            return Err(BcastError::InvalidSender(sender));
        }
        Ok(())
    }

    fn check_message(&self, msg_id: &str, any: &Any) -> Result<&Registration, BcastError> {
        let reg = self
            .registry
            .get(msg_id)
            .ok_or_else(|| BcastError::UnknownMessageId(msg_id.to_owned()))?;
        let check = |source| BcastError::Check {
            msg_id: msg_id.to_owned(),
            source,
        };
        if let Some(l) = &self.limits {
            // Counted on the raw bytes: decoding is what would expand them.
            match msg_id {
                super::protocols::MSG_FROST_ROUND1_CAST => {
                    scan_frost_round1_casts(&any.value, l).map_err(check)?
                }
                super::protocols::MSG_FROST_ROUND2_CAST => {
                    scan_frost_round2_casts(&any.value, l).map_err(check)?
                }
                _ => {}
            }
        }
        (reg.check)(any).map_err(check)?;
        Ok(reg)
    }

    /// Decides whether to co-sign a request and returns the signature.
    /// Only one hash is ever signed per (sender, message ID).
    pub fn co_sign(&self, sender: usize, msg_id: &str, any: &Any) -> Result<[u8; 65], BcastError> {
        self.check_sender(sender)?;
        self.check_message(msg_id, any)?;
        let hash = self.hash(msg_id, any);
        {
            let mut signed = self.signed.lock().unwrap_or_else(|e| e.into_inner());
            match signed.get(&(sender, msg_id.to_owned())) {
                Some(prev) if *prev != hash => {
                    return Err(BcastError::DuplicateMismatch {
                        peer: sender,
                        msg_id: msg_id.to_owned(),
                    });
                }
                Some(_) => {}
                None => {
                    signed.insert((sender, msg_id.to_owned()), hash);
                }
            }
        }
        sign65(&self.key, &hash).map_err(BcastError::Sign)
    }

    /// Verifies and queues a signed message. Returns `false` for a repeat of
    /// an already delivered message (still a success for the sender).
    ///
    /// The message must be the one this endpoint co-signed for `(sender, id)`:
    /// a sender collects every signature, ours included, before delivering,
    /// so a fully signed message we did not sign here comes from an earlier
    /// attempt of the same definition (same session hash and IDs) and is a
    /// replay. This binds deliveries to the attempt without any wire change.
    pub fn accept_message(&self, sender: usize, msg: BCastMessage) -> Result<bool, BcastError> {
        self.check_sender(sender)?;
        let any = msg.message.ok_or(BcastError::Check {
            msg_id: msg.id.clone(),
            source: ProtoError::MissingField {
                message: "BCastMessage",
                field: "message",
            },
        })?;
        let hash = self.hash(&msg.id, &any);
        verify_signatures(&self.peers, &hash, &msg.signatures)?;
        let reg = self.check_message(&msg.id, &any)?;
        let co_signed = self
            .signed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(sender, msg.id.clone()))
            == Some(&hash);
        if !co_signed {
            return Err(BcastError::NotCoSigned {
                peer: sender,
                msg_id: msg.id,
            });
        }
        let fresh = self
            .delivered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((sender, msg.id.clone(), hash));
        if fresh {
            // A closed receiver means the consumer finished; nothing to do.
            let _ = reg.deliveries.send(Delivery {
                sender,
                msg_id: msg.id,
                message: any,
            });
        }
        Ok(fresh)
    }

    /// Serves one inbound `/sig` stream from operator `sender`. On refusal the
    /// stream is closed without a response, as charon does.
    pub async fn serve_sig<S>(&self, sender: usize, stream: &mut S) -> Result<(), BcastError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let stream_err = |source| BcastError::Stream {
            peer: sender,
            source,
        };
        let body = read_delimited(stream, self.max_read())
            .await
            .map_err(stream_err)?;
        let req: BCastSigRequest =
            decode_checked(&body).map_err(|e| stream_err(FrameError::Proto(e)))?;
        let any = req.message.unwrap_or_default();
        let sig = match self.co_sign(sender, &req.id, &any) {
            Ok(sig) => sig,
            Err(e) => {
                let _ = stream.close().await;
                return Err(e);
            }
        };
        let resp = BCastSigResponse {
            id: req.id,
            signature: sig.to_vec(),
        };
        write_msg(stream, &resp).await.map_err(stream_err)?;
        let _ = stream.close().await;
        Ok(())
    }

    /// Serves one inbound `/msg` stream from operator `sender`: verifies and
    /// queues the message, then acknowledges with an empty message. Refused
    /// messages get no acknowledgement.
    pub async fn serve_msg<S>(&self, sender: usize, stream: &mut S) -> Result<(), BcastError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let stream_err = |source| BcastError::Stream {
            peer: sender,
            source,
        };
        let body = read_delimited(stream, self.max_read())
            .await
            .map_err(stream_err)?;
        if let Some(l) = &self.limits {
            scan_bcast_message(&body, l).map_err(|e| stream_err(FrameError::Proto(e)))?;
        }
        let msg: BCastMessage =
            decode_checked(&body).map_err(|e| stream_err(FrameError::Proto(e)))?;
        match self.accept_message(sender, msg) {
            Ok(_) => {
                write_ack(stream).await;
                Ok(())
            }
            Err(e) => {
                let _ = stream.close().await;
                Err(e)
            }
        }
    }

    /// Broadcasts `msg` under `msg_id`: serialises it once, then see
    /// [`Bcast::broadcast_any`]. Returns the `Any` that was sent.
    pub async fn broadcast<O, M>(
        &self,
        opener: &O,
        msg_id: &str,
        msg: &M,
    ) -> Result<Any, BcastError>
    where
        O: OpenStream,
        M: Message + Name,
    {
        let any = pack_any(msg);
        self.broadcast_any(opener, msg_id, &any).await?;
        Ok(any)
    }

    /// Collects every peer's co-signature over `any` (retrying with the same
    /// bytes), verifies all n, then delivers the message to every peer, waiting
    /// for each acknowledgement and re-sending the same bytes when none comes.
    /// The message is not delivered to ourselves.
    pub async fn broadcast_any<O: OpenStream>(
        &self,
        opener: &O,
        msg_id: &str,
        any: &Any,
    ) -> Result<(), BcastError> {
        self.broadcast_with(
            opener,
            msg_id,
            any,
            &SendPolicy::DEFAULT,
            &SendPolicy::BCAST_MSG,
        )
        .await
    }

    /// [`Bcast::broadcast_any`] with explicit send policies.
    pub async fn broadcast_with<O: OpenStream>(
        &self,
        opener: &O,
        msg_id: &str,
        any: &Any,
        sig_policy: &SendPolicy,
        msg_policy: &SendPolicy,
    ) -> Result<(), BcastError> {
        self.check_message(msg_id, any)?;
        let hash = self.hash(msg_id, any);
        let own_sig = sign65(&self.key, &hash).map_err(BcastError::Sign)?;
        let request = BCastSigRequest {
            id: msg_id.to_owned(),
            message: Some(any.clone()),
        }
        .encode_to_vec();

        let others: Vec<usize> = (0..self.peers.len()).filter(|&p| p != self.own).collect();
        let requests = others.iter().map(|&peer| {
            let request = &request;
            async move {
                let sig = with_retries(sig_policy, || {
                    self.request_sig(opener, peer, request, &hash)
                })
                .await
                .map_err(|e| send_failed("co-signature request", peer, e))?;
                Ok::<_, BcastError>((peer, sig))
            }
        });
        let mut sigs = vec![Vec::new(); self.peers.len()];
        for (peer, sig) in futures::future::try_join_all(requests).await? {
            if let Some(slot) = sigs.get_mut(peer) {
                *slot = sig;
            }
        }
        if let Some(slot) = sigs.get_mut(self.own) {
            *slot = own_sig.to_vec();
        }
        verify_signatures(&self.peers, &hash, &sigs)?;

        let message = BCastMessage {
            id: msg_id.to_owned(),
            message: Some(any.clone()),
            signatures: sigs,
        }
        .encode_to_vec();
        let sends = others.iter().map(|&peer| {
            let message = &message;
            async move {
                with_retries(msg_policy, || self.deliver(opener, peer, message))
                    .await
                    .map_err(|e| send_failed("message", peer, e))
            }
        });
        futures::future::try_join_all(sends).await?;
        Ok(())
    }

    async fn request_sig<O: OpenStream>(
        &self,
        opener: &O,
        peer: usize,
        request: &[u8],
        hash: &[u8; 32],
    ) -> Result<Vec<u8>, BcastError> {
        let mut stream = opener
            .open(peer, self.compat.bcast_sig())
            .await
            .map_err(|source| BcastError::Open { peer, source })?;
        let resp: BCastSigResponse = send_receive(&mut stream, request, MAX_BCAST_SIG_RESPONSE)
            .await
            .map_err(|source| BcastError::Stream { peer, source })?;
        let key = self
            .peers
            .get(peer)
            .ok_or(BcastError::InvalidSender(peer))?;
        verify65(key, hash, &resp.signature)
            .map_err(|source| BcastError::BadSignature { peer, source })?;
        Ok(resp.signature)
    }

    async fn deliver<O: OpenStream>(
        &self,
        opener: &O,
        peer: usize,
        message: &[u8],
    ) -> Result<(), BcastError> {
        let mut stream = opener
            .open(peer, self.compat.bcast_msg())
            .await
            .map_err(|source| BcastError::Open { peer, source })?;
        let acked = send_with_ack(&mut stream, message)
            .await
            .map_err(|source| BcastError::Stream { peer, source })?;
        if acked {
            Ok(())
        } else {
            Err(BcastError::SendFailed {
                what: "message",
                peer,
                reason: "peer closed the stream without acknowledging".into(),
            })
        }
    }
}

fn send_failed(what: &'static str, peer: usize, e: RetryError<BcastError>) -> BcastError {
    match e {
        RetryError::Timeout => BcastError::SendFailed {
            what,
            peer,
            reason: "timed out".into(),
        },
        // A signature that does not verify will not improve on retry; keep its type.
        RetryError::Failed(e @ BcastError::BadSignature { .. }) => e,
        RetryError::Failed(e) => BcastError::SendFailed {
            what,
            peer,
            reason: e.to_string(),
        },
    }
}
