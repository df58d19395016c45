//! Package `dkg.dkgpb.v1`: sync, bcast, FROST, node signatures and Pedersen.

use super::{Any, Timestamp, no_required_fields, proto_name, required_fields};
use zeroize::Zeroize;

// ---- sync.proto ----

/// Periodic sync request (`/charon/dkg/sync/1.0.0/`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgSync {
    /// Sender's current time; echoed back by the server.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// DER ECDSA signature over `sha256(definition_hash)` by the ENR key.
    #[prost(bytes = "vec", tag = "2")]
    pub hash_signature: Vec<u8>,
    /// Final message of a graceful shutdown.
    #[prost(bool, tag = "3")]
    pub shutdown: bool,
    /// Charon minor version, e.g. `v1.11`.
    #[prost(string, tag = "4")]
    pub version: String,
    /// Sender's current step.
    #[prost(int64, tag = "5")]
    pub step: i64,
    /// Operator nickname (at most 32 characters).
    #[prost(string, tag = "6")]
    pub nickname: String,
}

/// Sync response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgSyncResponse {
    /// Echo of the request timestamp.
    #[prost(message, optional, tag = "1")]
    pub sync_timestamp: Option<Timestamp>,
    /// Fatal error reason; empty on success.
    #[prost(string, tag = "2")]
    pub error: String,
}

// ---- bcast.proto ----

/// Request for a co-signature (`.../bcast/2.0.0/sig`). Field 2 is reserved.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BCastSigRequest {
    /// Message ID, e.g. `/charon/dkg/node_sig`.
    #[prost(string, tag = "1")]
    pub id: String,
    /// Message to co-sign.
    #[prost(message, optional, tag = "3")]
    pub message: Option<Any>,
}

/// Co-signature response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BCastSigResponse {
    /// Echo of the message ID.
    #[prost(string, tag = "1")]
    pub id: String,
    /// 65-byte `R || S || V` signature over the bcast hash.
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
}

/// Broadcast message with all co-signatures (`.../bcast/2.0.0/msg`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct BCastMessage {
    /// Message ID.
    #[prost(string, tag = "1")]
    pub id: String,
    /// The broadcast message.
    #[prost(message, optional, tag = "2")]
    pub message: Option<Any>,
    /// n signatures in operator order, sender included.
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub signatures: Vec<Vec<u8>>,
}

// ---- frost.proto ----

/// FROST message key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct FrostMsgKey {
    /// 0-based validator index.
    #[prost(uint32, tag = "1")]
    pub val_idx: u32,
    /// Sender's ShareIdx.
    #[prost(uint32, tag = "2")]
    pub source_id: u32,
    /// Recipient's ShareIdx; 0 for broadcast casts.
    #[prost(uint32, tag = "3")]
    pub target_id: u32,
}

/// All round-1 broadcast casts of one node.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FrostRound1Casts {
    /// One per validator, any order.
    #[prost(message, repeated, tag = "1")]
    pub casts: Vec<FrostRound1Cast>,
}

/// Round-1 broadcast for one validator.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FrostRound1Cast {
    /// Message key.
    #[prost(message, optional, tag = "1")]
    pub key: Option<FrostMsgKey>,
    /// Proof response `w_i`, 32-byte big-endian scalar.
    #[prost(bytes = "vec", tag = "2")]
    pub wi: Vec<u8>,
    /// Proof challenge `c_i`, 32-byte big-endian scalar.
    #[prost(bytes = "vec", tag = "3")]
    pub ci: Vec<u8>,
    /// Feldman commitments, 48-byte compressed G1 each.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub commitments: Vec<Vec<u8>>,
}

/// Round-1 direct shares from one node to another.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FrostRound1P2P {
    /// One per validator, any order.
    #[prost(message, repeated, tag = "1")]
    pub shares: Vec<FrostRound1ShamirShare>,
}

/// A secret Shamir share for one validator. The value is zeroised on drop and
/// redacted from Debug output.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct FrostRound1ShamirShare {
    /// Message key.
    #[prost(message, optional, tag = "1")]
    pub key: Option<FrostMsgKey>,
    /// Recipient's ShareIdx (the Shamir x-coordinate).
    #[prost(uint32, tag = "2")]
    pub id: u32,
    /// `f_i(id)`, 32-byte big-endian scalar (secret).
    #[prost(bytes = "vec", tag = "3")]
    pub value: Vec<u8>,
}

impl std::fmt::Debug for FrostRound1ShamirShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrostRound1ShamirShare")
            .field("key", &self.key)
            .field("id", &self.id)
            .field("value", &"<redacted>")
            .finish()
    }
}

impl Drop for FrostRound1ShamirShare {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

/// All round-2 broadcast casts of one node.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FrostRound2Casts {
    /// One per validator, any order.
    #[prost(message, repeated, tag = "1")]
    pub casts: Vec<FrostRound2Cast>,
}

/// Round-2 broadcast for one validator.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FrostRound2Cast {
    /// Message key.
    #[prost(message, optional, tag = "1")]
    pub key: Option<FrostMsgKey>,
    /// Group public key, 48-byte compressed G1.
    #[prost(bytes = "vec", tag = "2")]
    pub verification_key: Vec<u8>,
    /// Sender's public share, 48-byte compressed G1.
    #[prost(bytes = "vec", tag = "3")]
    pub vk_share: Vec<u8>,
}

// ---- nodesigs.proto ----

/// A node's secp256k1 signature over the lock hash.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgNodeSig {
    /// 65-byte `R || S || V`, or the sentinel `0xdeadbeef`.
    #[prost(bytes = "vec", tag = "1")]
    pub signature: Vec<u8>,
    /// Sender's PeerIdx.
    #[prost(uint32, tag = "2")]
    pub peer_index: u32,
}

// ---- pedersen.proto ----

/// Ephemeral node public key broadcast (Pedersen).
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodePubKeyMessage {
    /// Raw 32-byte definition hash.
    #[prost(bytes = "vec", tag = "1")]
    pub session_id: Vec<u8>,
    /// Ephemeral kyber point.
    #[prost(bytes = "vec", tag = "2")]
    pub public_key: Vec<u8>,
    /// Only used for resharing (proto3 `optional`).
    #[prost(message, optional, tag = "3")]
    pub shares: Option<NodePubKeyShares>,
}

/// Public key shares (resharing only).
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodePubKeyShares {
    /// kyber points.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub public_key_shares: Vec<Vec<u8>>,
}

/// A node's public share of one validator (Pedersen).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValidatorPubKeyShareMessage {
    /// Raw 32-byte definition hash.
    #[prost(bytes = "vec", tag = "1")]
    pub session_id: Vec<u8>,
    /// Sender's public share.
    #[prost(bytes = "vec", tag = "2")]
    pub public_key_share: Vec<u8>,
}

/// kyber deal bundle.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PedersenDealBundle {
    /// Dealer's node index.
    #[prost(uint32, tag = "1")]
    pub dealer_index: u32,
    /// One deal per recipient.
    #[prost(message, repeated, tag = "2")]
    pub deals: Vec<PedersenDeal>,
    /// Public polynomial commitments.
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub public: Vec<Vec<u8>>,
    /// Per-validator kyber nonce.
    #[prost(bytes = "vec", tag = "4")]
    pub session_id: Vec<u8>,
    /// Bundle signature.
    #[prost(bytes = "vec", tag = "5")]
    pub signature: Vec<u8>,
}

/// One encrypted deal.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PedersenDeal {
    /// Recipient index.
    #[prost(uint32, tag = "1")]
    pub share_index: u32,
    /// ECIES-encrypted share.
    #[prost(bytes = "vec", tag = "2")]
    pub encrypted_share: Vec<u8>,
}

/// kyber response bundle.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PedersenResponseBundle {
    /// Responder's index.
    #[prost(uint32, tag = "1")]
    pub share_index: u32,
    /// One per dealer.
    #[prost(message, repeated, tag = "2")]
    pub responses: Vec<PedersenResponse>,
    /// Per-validator kyber nonce.
    #[prost(bytes = "vec", tag = "3")]
    pub session_id: Vec<u8>,
    /// Bundle signature.
    #[prost(bytes = "vec", tag = "4")]
    pub signature: Vec<u8>,
}

/// One response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PedersenResponse {
    /// Dealer the response refers to.
    #[prost(uint32, tag = "1")]
    pub dealer_index: u32,
    /// Deal accepted or not.
    #[prost(bool, tag = "2")]
    pub status: bool,
}

/// kyber justification bundle.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PedersenJustificationBundle {
    /// Dealer's index.
    #[prost(uint32, tag = "1")]
    pub dealer_index: u32,
    /// Revealed shares.
    #[prost(message, repeated, tag = "2")]
    pub justifications: Vec<PedersenJustification>,
    /// Per-validator kyber nonce.
    #[prost(bytes = "vec", tag = "3")]
    pub session_id: Vec<u8>,
    /// Bundle signature.
    #[prost(bytes = "vec", tag = "4")]
    pub signature: Vec<u8>,
}

/// One justification.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PedersenJustification {
    /// Index of the complaining node.
    #[prost(uint32, tag = "1")]
    pub share_index: u32,
    /// Revealed share.
    #[prost(bytes = "vec", tag = "2")]
    pub share: Vec<u8>,
}

proto_name!("dkg.dkgpb.v1":
    MsgSync, MsgSyncResponse,
    BCastSigRequest, BCastSigResponse, BCastMessage,
    FrostMsgKey, FrostRound1Casts, FrostRound1Cast, FrostRound1P2P, FrostRound1ShamirShare,
    FrostRound2Casts, FrostRound2Cast,
    MsgNodeSig,
    NodePubKeyMessage, NodePubKeyShares, ValidatorPubKeyShareMessage,
    PedersenDealBundle, PedersenDeal, PedersenResponseBundle, PedersenResponse,
    PedersenJustificationBundle, PedersenJustification,
);

// `NodePubKeyMessage.shares` is declared proto3 `optional`, so it may be absent.
no_required_fields!(
    NodePubKeyMessage,
    BCastSigResponse,
    FrostMsgKey,
    MsgNodeSig,
    NodePubKeyShares,
    ValidatorPubKeyShareMessage,
    PedersenDealBundle,
    PedersenDeal,
    PedersenResponseBundle,
    PedersenResponse,
    PedersenJustificationBundle,
    PedersenJustification,
);

required_fields! {
    MsgSync: present(timestamp);
    MsgSyncResponse: present(sync_timestamp);
    BCastSigRequest: present(message);
    BCastMessage: present(message);
    FrostRound1Cast: present(key);
    FrostRound1Casts: each(casts);
    FrostRound1ShamirShare: present(key);
    FrostRound1P2P: each(shares);
    FrostRound2Cast: present(key);
    FrostRound2Casts: each(casts);
}
