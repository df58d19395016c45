//! The FROST DKG messages as plain Rust values, mirroring the fields of
//! charon's `FrostRound1Cast`, `FrostRound1ShamirShare` and `FrostRound2Cast`
//! protobuf messages (without the routing key, which the transport owns).

use zeroize::Zeroizing;

/// Length of an encoded scalar.
pub const SCALAR_LEN: usize = 32;
/// Length of an encoded G1 point.
pub const POINT_LEN: usize = 48;

/// Why raw message bytes could not be turned into a message value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// A field with the wrong number of bytes.
    #[error("{field} must be {want} bytes, got {got}")]
    Length {
        /// Field name as in charon's protobuf.
        field: &'static str,
        /// Required length.
        want: usize,
        /// Received length.
        got: usize,
    },
}

fn fixed<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], MessageError> {
    bytes.try_into().map_err(|_| MessageError::Length {
        field,
        want: N,
        got: bytes.len(),
    })
}

/// A participant's round-1 broadcast for one validator: Feldman commitments
/// `A_0..A_{t-1}` and the Schnorr proof of knowledge `(w, c)` of `a_0`.
#[derive(Clone, PartialEq, Eq)]
pub struct Round1Bcast {
    /// `A_k = a_k * G`, 48-byte compressed, exactly `threshold` of them.
    pub commitments: Vec<[u8; POINT_LEN]>,
    /// `w = k + a_0 * c`, 32-byte big-endian.
    pub wi: [u8; SCALAR_LEN],
    /// The challenge `c`, 32-byte big-endian.
    pub ci: [u8; SCALAR_LEN],
}

impl Round1Bcast {
    /// Builds a broadcast from raw protobuf fields, checking only lengths.
    pub fn from_slices<C: AsRef<[u8]>>(
        commitments: &[C],
        wi: &[u8],
        ci: &[u8],
    ) -> Result<Self, MessageError> {
        Ok(Round1Bcast {
            commitments: commitments
                .iter()
                .map(|c| fixed("commitments", c.as_ref()))
                .collect::<Result<_, _>>()?,
            wi: fixed("wi", wi)?,
            ci: fixed("ci", ci)?,
        })
    }
}

impl std::fmt::Debug for Round1Bcast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Round1Bcast")
            .field(
                "commitments",
                &self.commitments.iter().map(hex::encode).collect::<Vec<_>>(),
            )
            .field("wi", &hex::encode(self.wi))
            .field("ci", &hex::encode(self.ci))
            .finish()
    }
}

/// A private Shamir share `f_i(id)` sent by participant `i` to participant
/// `id`. Wiped on drop and redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ShamirShare {
    /// The recipient's 1-based share index (the Feldman x-coordinate).
    pub id: u32,
    /// `f_i(id)`, 32-byte big-endian.
    pub value: Zeroizing<[u8; SCALAR_LEN]>,
}

impl ShamirShare {
    /// Builds a share from raw protobuf fields, checking only the length.
    pub fn from_slice(id: u32, value: &[u8]) -> Result<Self, MessageError> {
        Ok(ShamirShare {
            id,
            value: Zeroizing::new(fixed("value", value)?),
        })
    }
}

impl std::fmt::Debug for ShamirShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShamirShare")
            .field("id", &self.id)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// A participant's round-2 broadcast for one validator.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Round2Bcast {
    /// The group public key, 48-byte compressed.
    pub verification_key: [u8; POINT_LEN],
    /// The sender's public key share, 48-byte compressed.
    pub vk_share: [u8; POINT_LEN],
}

impl Round2Bcast {
    /// Builds a broadcast from raw protobuf fields, checking only lengths.
    pub fn from_slices(verification_key: &[u8], vk_share: &[u8]) -> Result<Self, MessageError> {
        Ok(Round2Bcast {
            verification_key: fixed("verification_key", verification_key)?,
            vk_share: fixed("vk_share", vk_share)?,
        })
    }
}

impl std::fmt::Debug for Round2Bcast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Round2Bcast")
            .field("verification_key", &hex::encode(self.verification_key))
            .field("vk_share", &hex::encode(self.vk_share))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_enforced() {
        let ok = Round1Bcast::from_slices(&[[1u8; 48]], &[2; 32], &[3; 32]).unwrap();
        assert_eq!(ok.commitments, vec![[1u8; 48]]);
        assert_eq!(
            Round1Bcast::from_slices(&[vec![1u8; 47]], &[2; 32], &[3; 32]),
            Err(MessageError::Length {
                field: "commitments",
                want: 48,
                got: 47
            })
        );
        assert!(Round1Bcast::from_slices::<[u8; 48]>(&[], &[2; 33], &[3; 32]).is_err());
        assert!(Round1Bcast::from_slices::<[u8; 48]>(&[], &[2; 32], &[]).is_err());
        assert!(ShamirShare::from_slice(1, &[0; 31]).is_err());
        let s = ShamirShare::from_slice(2, &[9; 32]).unwrap();
        assert!(!format!("{s:?}").contains('9'));
        assert!(Round2Bcast::from_slices(&[0; 48], &[0; 49]).is_err());
    }
}
