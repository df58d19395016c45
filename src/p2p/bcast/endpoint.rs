//! The bcast endpoint: registered message IDs, co-signing and acceptance.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use k256::ecdsa::{SigningKey, VerifyingKey};
use prost::{Message, Name};
use tokio::sync::mpsc;

use crate::p2p::frame::MAX_DELIMITED_SIZE;
use crate::p2p::k1sig::sign65;
use crate::p2p::limits::{WireLimits, scan_frost_round1_casts, scan_frost_round2_casts};
use crate::p2p::proto::dkgpb::BCastMessage;
use crate::p2p::proto::{Any, CheckPresent, ProtoError, unpack_any};
use crate::p2p::protocols::Compat;

use super::error::BcastError;
use super::hash::{hash_any, verify_signatures};

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

pub(super) struct Registration {
    check: CheckFn,
    deliveries: mpsc::UnboundedSender<Delivery>,
}

/// One node's bcast endpoint: server handlers for `/sig` and `/msg` and the
/// broadcasting client. Register every message ID before serving (charon does
/// so before the first sync barrier).
pub struct Bcast {
    pub(super) compat: Compat,
    pub(super) session_hash: [u8; 32],
    pub(super) own: usize,
    pub(super) key: SigningKey,
    pub(super) peers: Vec<VerifyingKey>,
    pub(super) registry: HashMap<String, Registration>,
    pub(super) limits: Option<WireLimits>,
    pub(super) signed: Mutex<HashMap<(usize, String), [u8; 32]>>,
    pub(super) delivered: Mutex<HashSet<(usize, String, [u8; 32])>>,
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

    pub(super) fn max_read(&self) -> usize {
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

    pub(super) fn check_message(
        &self,
        msg_id: &str,
        any: &Any,
    ) -> Result<&Registration, BcastError> {
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
                crate::p2p::protocols::MSG_FROST_ROUND1_CAST => {
                    scan_frost_round1_casts(&any.value, l).map_err(check)?
                }
                crate::p2p::protocols::MSG_FROST_ROUND2_CAST => {
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
}
