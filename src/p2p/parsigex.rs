//! Partial-signature exchange on `/charon/parsigex/2.0.0` as the DKG uses it:
//! `Duty{slot: sigType, type: DutySignature}`, entries keyed by the `0x`
//! lowercase-hex group pubkey, `data` = JSON string of the base64 signature.
//! One-way: receivers never answer. Sets may arrive before the local node
//! reaches their step, so [`ParSigStore`] keeps them for any admissible sigType.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::io::{AsyncRead, AsyncWrite};
use prost::Message;

use super::frame::{FrameError, read_delimited};
use super::limits::{WireLimits, scan_parsigex};
use super::proto::ProtoError;
use super::proto::corepb::{Duty, ParSigExMsg, ParSignedData, ParSignedDataSet};
use super::proto::decode_checked;
use super::stream::send_oneway;

/// `core.DutyType` of DKG signatures.
pub const DUTY_SIGNATURE: i32 = 3;
/// sigType of the lock-hash partial signatures.
pub const SIG_LOCK: u64 = 101;
/// sigType of builder registration partial signatures.
pub const SIG_VALIDATOR_REGISTRATION: u64 = 102;
/// sigType of the first deposit amount; amount `i` (ascending) uses `200 + i`.
pub const SIG_DEPOSIT_DATA_BASE: u64 = 200;

/// BLS public key length.
pub const PUBKEY_LEN: usize = 48;
/// BLS signature length.
pub const SIGNATURE_LEN: usize = 96;

/// A BLS group public key.
pub type PubKey = [u8; PUBKEY_LEN];
/// A BLS (partial) signature.
pub type BlsSignature = [u8; SIGNATURE_LEN];

/// sigType of the `i`-th deposit amount.
pub fn deposit_sig_type(amount_index: usize) -> u64 {
    SIG_DEPOSIT_DATA_BASE.saturating_add(amount_index as u64)
}

/// True for the sigTypes charon's duty gater admits (101, 102, >= 200).
pub fn admissible_sig_type(slot: u64) -> bool {
    slot == SIG_LOCK || slot == SIG_VALIDATOR_REGISTRATION || slot >= SIG_DEPOSIT_DATA_BASE
}

/// Map key of a group pubkey: `0x` + lowercase hex (98 characters).
pub fn pubkey_key(pubkey: &PubKey) -> String {
    format!("0x{}", hex::encode(pubkey))
}

/// Parses a map key in exactly the form [`pubkey_key`] produces.
pub fn parse_pubkey_key(key: &str) -> Option<PubKey> {
    let hex_part = key.strip_prefix("0x")?;
    if hex_part.len() != PUBKEY_LEN * 2 || hex_part.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; PUBKEY_LEN];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

/// `ParSignedData.data` for a signature: Go's JSON of a byte slice, i.e. a
/// quoted standard-base64 string (always 130 bytes for 96 bytes).
pub fn signature_json(sig: &BlsSignature) -> Vec<u8> {
    format!("\"{}\"", STANDARD.encode(sig)).into_bytes()
}

/// Parses `ParSignedData.data` back into a 96-byte signature.
pub fn parse_signature_json(data: &[u8]) -> Option<BlsSignature> {
    let text: String = serde_json::from_slice(data).ok()?;
    let bytes = STANDARD.decode(text).ok()?;
    bytes.try_into().ok()
}

/// A parsigex message was refused; names the sender's share index.
#[derive(Debug, thiserror::Error)]
pub enum ParSigExError {
    /// Absent duty or data set, or malformed protobuf.
    #[error("invalid parsigex msg fields: {0}")]
    Proto(#[from] ProtoError),
    /// Duty not admitted by the DKG gater.
    #[error("invalid duty (slot {slot}, type {duty_type}) from share {sender}")]
    InvalidDuty {
        /// Sender ShareIdx.
        sender: u32,
        /// Duty slot.
        slot: u64,
        /// Duty type.
        duty_type: i32,
    },
    /// No entries.
    #[error("empty partial signature set from share {0}")]
    Empty(u32),
    /// An entry claims another share index.
    #[error("partial signature share index {claimed} does not match sender share {sender}")]
    ShareIdx {
        /// Sender ShareIdx.
        sender: u32,
        /// Claimed share index.
        claimed: i32,
    },
    /// A key is not `0x` + 96 lowercase hex characters.
    #[error("invalid pubkey key {key:?} from share {sender}")]
    PubKey {
        /// Sender ShareIdx.
        sender: u32,
        /// The key.
        key: String,
    },
    /// `data` is not a JSON base64 96-byte signature.
    #[error("invalid signature data for {key} from share {sender}")]
    Data {
        /// Sender ShareIdx.
        sender: u32,
        /// Pubkey key.
        key: String,
    },
    /// Same (sigType, pubkey, share) with a different signature.
    #[error("mismatching partial signed data for {key} (sigType {sig_type}) from share {sender}")]
    Mismatch {
        /// Sender ShareIdx.
        sender: u32,
        /// sigType.
        sig_type: u64,
        /// Pubkey key.
        key: String,
    },
    /// Stream failure.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// A validated set of partial signatures from one share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParSigSet {
    /// sigType (duty slot).
    pub sig_type: u64,
    /// Sender ShareIdx.
    pub share_idx: u32,
    /// Partial signatures by group pubkey.
    pub sigs: BTreeMap<PubKey, BlsSignature>,
}

/// Builds the message for our partial signatures of one sigType, populated
/// as charon does (raw signature included, share index on every entry).
pub fn build_msg(
    sig_type: u64,
    share_idx: u32,
    sigs: &BTreeMap<PubKey, BlsSignature>,
) -> ParSigExMsg {
    let set = sigs
        .iter()
        .map(|(pk, sig)| {
            (
                pubkey_key(pk),
                ParSignedData {
                    data: signature_json(sig),
                    signature: sig.to_vec(),
                    share_idx: share_idx as i32,
                },
            )
        })
        .collect();
    ParSigExMsg {
        duty: Some(Duty {
            slot: sig_type,
            r#type: DUTY_SIGNATURE,
        }),
        data_set: Some(ParSignedDataSet { set }),
    }
}

/// Validates a received message from the peer with ShareIdx `sender`. One bad
/// entry rejects the whole message, as in charon.
pub fn validate_msg(msg: &ParSigExMsg, sender: u32) -> Result<ParSigSet, ParSigExError> {
    use super::proto::CheckPresent;
    msg.check_present()?;
    let duty = msg.duty.unwrap_or_default();
    if duty.r#type != DUTY_SIGNATURE || !admissible_sig_type(duty.slot) {
        return Err(ParSigExError::InvalidDuty {
            sender,
            slot: duty.slot,
            duty_type: duty.r#type,
        });
    }
    let set = msg
        .data_set
        .as_ref()
        .map(|s| &s.set)
        .ok_or(ProtoError::MissingField {
            message: "ParSigExMsg",
            field: "data_set",
        })?;
    if set.is_empty() {
        return Err(ParSigExError::Empty(sender));
    }
    let mut sigs = BTreeMap::new();
    for (key, entry) in set {
        if i64::from(entry.share_idx) != i64::from(sender) {
            return Err(ParSigExError::ShareIdx {
                sender,
                claimed: entry.share_idx,
            });
        }
        let pk = parse_pubkey_key(key).ok_or_else(|| ParSigExError::PubKey {
            sender,
            key: key.clone(),
        })?;
        let sig = parse_signature_json(&entry.data).ok_or_else(|| ParSigExError::Data {
            sender,
            key: key.clone(),
        })?;
        sigs.insert(pk, sig);
    }
    Ok(ParSigSet {
        sig_type: duty.slot,
        share_idx: sender,
        sigs,
    })
}

/// Sends one parsigex message and closes with FIN (no response exists).
pub async fn send_msg<S: AsyncWrite + Unpin>(
    stream: &mut S,
    msg: &ParSigExMsg,
) -> Result<(), FrameError> {
    send_oneway(stream, &msg.encode_to_vec()).await
}

/// Reads and validates one inbound parsigex message from ShareIdx `sender`;
/// size and entry count are bounded by `limits` before decoding.
pub async fn recv_msg<S: AsyncRead + Unpin>(
    stream: &mut S,
    sender: u32,
    limits: &WireLimits,
) -> Result<ParSigSet, ParSigExError> {
    let body = read_delimited(stream, limits.parsigex()).await?;
    scan_parsigex(&body, limits)?;
    let msg: ParSigExMsg = decode_checked(&body)?;
    validate_msg(&msg, sender)
}
