//! Bounds on what a cluster peer may make this node read, hold and spawn.
//!
//! charon reads any delimited message up to 128 MiB, and a protobuf repeated
//! field expands on decoding far beyond its wire size (an empty
//! `FrostRound1ShamirShare` is 2 bytes on the wire and about 80 in memory), so
//! every protocol's size and entry counts are bounded by what the definition
//! implies (validators x operators, threshold) with generous headroom, and
//! repeated fields are counted on the raw bytes before anything is decoded.

use super::proto::ProtoError;

/// Headroom added to every computed message bound.
const SLACK: usize = 64 << 10;
/// Largest sync message we read (`MsgSync`, `MsgSyncResponse` are a few
/// hundred bytes; peer error texts are cut to 512 characters anyway).
pub const MAX_SYNC_MESSAGE: usize = 64 << 10;
/// Largest `BCastSigResponse` (an ID and a 65-byte signature).
pub const MAX_BCAST_SIG_RESPONSE: usize = 64 << 10;
/// Concurrent inbound streams one peer may hold open on this node. A
/// ceremony needs a handful (sync, a bcast or two, FROST shares, one parsigex
/// set per signature type); the rest are refused without a task.
pub const MAX_INBOUND_STREAMS_PER_PEER: usize = 32;
/// Established connections per peer (direct and relayed, both directions).
pub const MAX_CONNECTIONS_PER_PEER: u32 = 8;
/// Inbound connections still in the Noise/yamux handshake, from anyone.
pub const MAX_PENDING_INCOMING: u32 = 32;

/// Message bounds of one ceremony, derived from its definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireLimits {
    /// Validators in the cluster.
    pub validators: usize,
    /// Operators in the cluster.
    pub operators: usize,
    /// Signing threshold.
    pub threshold: usize,
}

impl WireLimits {
    /// Bounds for a cluster of `operators` creating `validators` keys.
    pub fn new(validators: usize, operators: usize, threshold: usize) -> Self {
        WireLimits {
            validators,
            operators,
            threshold,
        }
    }

    fn per_validator(&self, bytes: usize) -> usize {
        self.validators.saturating_mul(bytes).saturating_add(SLACK)
    }

    /// `FrostRound1P2P`: one share (key, id, 32-byte scalar: about 60 bytes)
    /// per validator.
    pub fn frost_round1_p2p(&self) -> usize {
        self.per_validator(256)
    }

    /// A bcast `/sig` request or `/msg`: the largest payload is the round-1
    /// casts (per validator: key, two scalars, `threshold` 48-byte
    /// commitments, about 100 + 50t bytes), plus one signature per operator.
    pub fn bcast(&self) -> usize {
        let per_val = 512usize.saturating_add(self.threshold.saturating_mul(128));
        self.per_validator(per_val)
            .saturating_add(self.operators.saturating_mul(128))
    }

    /// A parsigex set: one entry (98-byte key, 130-byte JSON, 96-byte
    /// signature: about 340 bytes) per validator.
    pub fn parsigex(&self) -> usize {
        self.per_validator(1024)
    }
}

/// One top-level field of a protobuf message, as found on the wire.
struct Field<'a> {
    number: u64,
    /// Payload of a length-delimited field; empty for other wire types.
    bytes: &'a [u8],
}

fn bad(reason: &str) -> ProtoError {
    ProtoError::Decode {
        message: "(pre-decoding scan)",
        reason: reason.to_owned(),
    }
}

fn varint(buf: &mut &[u8]) -> Result<u64, ProtoError> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let (&b, rest) = buf.split_first().ok_or_else(|| bad("truncated varint"))?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(bad("varint too long"))
}

/// Walks the top-level fields of `msg` without allocating.
fn for_each_field<'a>(
    mut msg: &'a [u8],
    mut f: impl FnMut(Field<'a>) -> Result<(), ProtoError>,
) -> Result<(), ProtoError> {
    while !msg.is_empty() {
        let key = varint(&mut msg)?;
        let number = key >> 3;
        let mut bytes: &[u8] = &[];
        match key & 7 {
            0 => {
                varint(&mut msg)?;
            }
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                msg = msg.get(n..).ok_or_else(|| bad("truncated fixed field"))?;
            }
            2 => {
                let len = usize::try_from(varint(&mut msg)?).map_err(|_| bad("huge length"))?;
                if len > msg.len() {
                    return Err(bad("length beyond the message"));
                }
                let (payload, rest) = msg.split_at(len);
                bytes = payload;
                msg = rest;
            }
            _ => return Err(bad("unsupported wire type")),
        }
        f(Field { number, bytes })?;
    }
    Ok(())
}

/// Fails when field `number` of `msg` occurs more than `max` times, calling
/// `each` on every occurrence's payload first (to bound nested fields).
pub fn check_repeated(
    msg: &[u8],
    what: &'static str,
    number: u64,
    max: usize,
    mut each: impl FnMut(&[u8]) -> Result<(), ProtoError>,
) -> Result<(), ProtoError> {
    let mut count = 0usize;
    for_each_field(msg, |field| {
        if field.number == number {
            count += 1;
            if count > max {
                return Err(ProtoError::Decode {
                    message: what,
                    reason: format!("more than {max} entries"),
                });
            }
            each(field.bytes)?;
        }
        Ok(())
    })
}

/// Returns the payload of the last occurrence of field `number` (protobuf's
/// rule for a singular message field), if any.
pub fn singular(msg: &[u8], number: u64) -> Result<Option<&[u8]>, ProtoError> {
    let mut found = None;
    for_each_field(msg, |field| {
        if field.number == number {
            found = Some(field.bytes);
        }
        Ok(())
    })?;
    Ok(found)
}

/// `FrostRound1P2P.shares`: at most one per validator.
pub fn scan_frost_round1_p2p(msg: &[u8], l: &WireLimits) -> Result<(), ProtoError> {
    check_repeated(msg, "dkg.FrostRound1P2P", 1, l.validators, |_| Ok(()))
}

/// `FrostRound1Casts.casts` at most one per validator, each with at most
/// `threshold` commitments.
pub fn scan_frost_round1_casts(value: &[u8], l: &WireLimits) -> Result<(), ProtoError> {
    check_repeated(value, "dkg.FrostRound1Casts", 1, l.validators, |cast| {
        check_repeated(cast, "dkg.FrostRound1Cast", 4, l.threshold, |_| Ok(()))
    })
}

/// `FrostRound2Casts.casts`: at most one per validator.
pub fn scan_frost_round2_casts(value: &[u8], l: &WireLimits) -> Result<(), ProtoError> {
    check_repeated(value, "dkg.FrostRound2Casts", 1, l.validators, |_| Ok(()))
}

/// `BCastMessage.signatures`: exactly one per operator is ever valid.
pub fn scan_bcast_message(msg: &[u8], l: &WireLimits) -> Result<(), ProtoError> {
    check_repeated(msg, "dkg.BCastMessage", 3, l.operators, |_| Ok(()))
}

/// `ParSigExMsg.data_set.set`: at most one entry per validator.
pub fn scan_parsigex(msg: &[u8], l: &WireLimits) -> Result<(), ProtoError> {
    match singular(msg, 2)? {
        Some(set) => check_repeated(set, "core.ParSignedDataSet", 1, l.validators, |_| Ok(())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::proto::dkgpb::{FrostRound1Cast, FrostRound1Casts};
    use prost::Message;

    #[test]
    fn counts_nested_entries_on_the_raw_bytes() {
        let l = WireLimits::new(2, 4, 3);
        let cast = |t| FrostRound1Cast {
            commitments: vec![vec![1; 48]; t],
            ..Default::default()
        };
        let ok = FrostRound1Casts {
            casts: vec![cast(3), cast(3)],
        };
        scan_frost_round1_casts(&ok.encode_to_vec(), &l).unwrap();
        let many = FrostRound1Casts {
            casts: vec![cast(3); 3],
        };
        assert!(scan_frost_round1_casts(&many.encode_to_vec(), &l).is_err());
        let deep = FrostRound1Casts {
            casts: vec![cast(3), cast(4)],
        };
        assert!(scan_frost_round1_casts(&deep.encode_to_vec(), &l).is_err());
        assert!(scan_frost_round1_casts(&[0x0a, 0x05, 0x00], &l).is_err());
    }

    #[test]
    fn bounds_fit_a_10k_validator_10_operator_cluster() {
        let l = WireLimits::new(10_000, 10, 7);
        // Round-1 casts of that cluster: about 100 + 50t bytes per validator.
        assert!(l.bcast() > 10_000 * (100 + 50 * 7) * 2);
        assert!(l.frost_round1_p2p() > 10_000 * 64 * 2);
        assert!(l.parsigex() > 10_000 * 340 * 2);
        assert!(l.bcast() < super::super::frame::MAX_DELIMITED_SIZE);
    }
}
