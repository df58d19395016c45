//! FROST transport messages: round-1 casts and round-2 casts go through
//! bcast; round-1 shares go peer to peer on `/charon/dkg/frost/2.0.0/round1/p2p`
//! (one message, no response). Receivers match entries by `val_idx` (Go sends
//! them in random order) and, unlike Go, insist that every validator is
//! covered exactly once.

use futures::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use prost::Message;
use zeroize::Zeroizing;

use super::frame::{FrameError, read_delimited, write_delimited};
use super::limits::{WireLimits, scan_frost_round1_p2p};
use super::proto::dkgpb::{
    FrostMsgKey, FrostRound1Cast, FrostRound1Casts, FrostRound1P2P, FrostRound2Cast,
    FrostRound2Casts,
};
use super::proto::{ProtoError, decode_checked};

/// A FROST message failed validation; names the sender's share index.
#[derive(Debug, thiserror::Error)]
pub enum FrostWireError {
    /// Missing message key.
    #[error("frost {what} from share {sender}: entry without key")]
    MissingKey {
        /// Message kind.
        what: &'static str,
        /// Sender ShareIdx.
        sender: u32,
    },
    /// Key does not match the sender, recipient or validator range.
    #[error("frost {what} from share {sender}: invalid key {key:?}: {reason}")]
    BadKey {
        /// Message kind.
        what: &'static str,
        /// Sender ShareIdx.
        sender: u32,
        /// The offending key.
        key: FrostMsgKey,
        /// Why.
        reason: &'static str,
    },
    /// A validator appears twice.
    #[error("frost {what} from share {sender}: validator {val_idx} appears more than once")]
    Duplicate {
        /// Message kind.
        what: &'static str,
        /// Sender ShareIdx.
        sender: u32,
        /// Validator index.
        val_idx: u32,
    },
    /// Not every validator is covered.
    #[error("frost {what} from share {sender}: {got} entries for {want} validators")]
    Coverage {
        /// Message kind.
        what: &'static str,
        /// Sender ShareIdx.
        sender: u32,
        /// Entries received.
        got: usize,
        /// Validators in the ceremony.
        want: usize,
    },
    /// Wrong number of commitments in a round-1 cast.
    #[error(
        "frost round-1 cast from share {sender}, validator {val_idx}: {got} commitments, threshold is {want}"
    )]
    Commitments {
        /// Sender ShareIdx.
        sender: u32,
        /// Validator index.
        val_idx: u32,
        /// Commitments received.
        got: usize,
        /// Threshold.
        want: usize,
    },
    /// A round-1 share is addressed to another x-coordinate.
    #[error(
        "frost round-1 share from share {sender}, validator {val_idx}: id {id} is not our share index {own}"
    )]
    ShareId {
        /// Sender ShareIdx.
        sender: u32,
        /// Validator index.
        val_idx: u32,
        /// Received id.
        id: u32,
        /// Our ShareIdx.
        own: u32,
    },
    /// Malformed protobuf.
    #[error(transparent)]
    Proto(#[from] ProtoError),
    /// Stream failure.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// Checks keys and exact per-validator coverage; returns entries ordered by `val_idx`.
fn check_coverage<'a, T>(
    what: &'static str,
    entries: &'a [T],
    key_of: impl Fn(&T) -> Option<&FrostMsgKey>,
    sender: u32,
    target: u32,
    num_vals: usize,
) -> Result<Vec<&'a T>, FrostWireError> {
    let mut slots: Vec<Option<&T>> = vec![None; num_vals];
    for entry in entries {
        let key = key_of(entry).ok_or(FrostWireError::MissingKey { what, sender })?;
        let bad = |reason| FrostWireError::BadKey {
            what,
            sender,
            key: *key,
            reason,
        };
        if key.source_id != sender {
            return Err(bad("source_id is not the sender's share index"));
        }
        if key.target_id != target {
            return Err(bad(if target == 0 {
                "target_id of a broadcast must be 0"
            } else {
                "target_id is not our share index"
            }));
        }
        let slot = usize::try_from(key.val_idx)
            .ok()
            .and_then(|i| slots.get_mut(i))
            .ok_or_else(|| bad("val_idx out of range"))?;
        if slot.is_some() {
            return Err(FrostWireError::Duplicate {
                what,
                sender,
                val_idx: key.val_idx,
            });
        }
        *slot = Some(entry);
    }
    let ordered: Vec<&T> = slots.into_iter().flatten().collect();
    if ordered.len() != num_vals {
        return Err(FrostWireError::Coverage {
            what,
            sender,
            got: ordered.len(),
            want: num_vals,
        });
    }
    Ok(ordered)
}

/// Validates a peer's round-1 casts and returns them ordered by validator.
pub fn validate_round1_casts(
    msg: &FrostRound1Casts,
    sender_share_idx: u32,
    num_vals: usize,
    threshold: usize,
) -> Result<Vec<&FrostRound1Cast>, FrostWireError> {
    let ordered = check_coverage(
        "round-1 cast",
        &msg.casts,
        |c| c.key.as_ref(),
        sender_share_idx,
        0,
        num_vals,
    )?;
    for (val_idx, cast) in ordered.iter().enumerate() {
        if cast.commitments.len() != threshold {
            return Err(FrostWireError::Commitments {
                sender: sender_share_idx,
                val_idx: val_idx as u32,
                got: cast.commitments.len(),
                want: threshold,
            });
        }
    }
    Ok(ordered)
}

/// Validates a peer's round-1 shares for us and returns them ordered by validator.
pub fn validate_round1_p2p(
    msg: &FrostRound1P2P,
    sender_share_idx: u32,
    own_share_idx: u32,
    num_vals: usize,
) -> Result<Vec<&super::proto::dkgpb::FrostRound1ShamirShare>, FrostWireError> {
    let ordered = check_coverage(
        "round-1 share",
        &msg.shares,
        |s| s.key.as_ref(),
        sender_share_idx,
        own_share_idx,
        num_vals,
    )?;
    for (val_idx, share) in ordered.iter().enumerate() {
        if share.id != own_share_idx {
            return Err(FrostWireError::ShareId {
                sender: sender_share_idx,
                val_idx: val_idx as u32,
                id: share.id,
                own: own_share_idx,
            });
        }
    }
    Ok(ordered)
}

/// Validates a peer's round-2 casts and returns them ordered by validator.
pub fn validate_round2_casts(
    msg: &FrostRound2Casts,
    sender_share_idx: u32,
    num_vals: usize,
) -> Result<Vec<&FrostRound2Cast>, FrostWireError> {
    check_coverage(
        "round-2 cast",
        &msg.casts,
        |c| c.key.as_ref(),
        sender_share_idx,
        0,
        num_vals,
    )
}

/// Sends round-1 shares to one peer: one message, then FIN. The encoded
/// buffer holds secret shares and is zeroised.
pub async fn send_round1_p2p<S: AsyncWrite + Unpin>(
    stream: &mut S,
    msg: &FrostRound1P2P,
) -> Result<(), FrameError> {
    let body = Zeroizing::new(msg.encode_to_vec());
    write_delimited(stream, &body).await?;
    stream.close().await?;
    Ok(())
}

/// Reads one round-1 share message from an inbound stream (no response is
/// written, as in charon). Size and share count are bounded by `limits`
/// before anything is decoded.
pub async fn recv_round1_p2p<S: AsyncRead + Unpin>(
    stream: &mut S,
    limits: &WireLimits,
) -> Result<FrostRound1P2P, FrostWireError> {
    let body = Zeroizing::new(read_delimited(stream, limits.frost_round1_p2p()).await?);
    scan_frost_round1_p2p(&body, limits)?;
    Ok(decode_checked(&body)?)
}
