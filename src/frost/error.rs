//! Why a FROST DKG step rejected its input. Every variant about received data
//! names the validator index (0-based, as charon's `val_idx`) and the sending
//! peer's 1-based share index.

use super::curve::CurveError;

/// A FROST DKG failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrostError {
    /// Parameters outside kryptology's limits (2 <= t <= n <= 255, 1 <= id <= n).
    #[error("invalid FROST parameters: id {id}, threshold {threshold}, {n} participants")]
    Parameters {
        /// Own share index.
        id: u32,
        /// Threshold t.
        threshold: u32,
        /// Number of participants n.
        n: u32,
    },
    /// The batch mixes participants of different ceremonies (n, t or id).
    #[error("validator {validator}: participant parameters differ from the rest of the batch")]
    MixedParameters {
        /// Validator index.
        validator: usize,
    },
    /// No round-1 broadcast from a peer.
    #[error("validator {validator}: no round-1 broadcast from peer {peer}")]
    MissingBcast {
        /// Validator index.
        validator: usize,
        /// Peer share index.
        peer: u32,
    },
    /// No share from a peer.
    #[error("validator {validator}: no share from peer {peer}")]
    MissingShare {
        /// Validator index.
        validator: usize,
        /// Peer share index.
        peer: u32,
    },
    /// A message keyed by a share index that is not a peer (0, > n, or own id
    /// for shares).
    #[error("validator {validator}: message from unknown peer {peer}")]
    UnknownPeer {
        /// Validator index.
        validator: usize,
        /// The offending share index.
        peer: u32,
    },
    /// Our own round-1 broadcast came back different from what we sent.
    #[error("validator {validator}: own round-1 broadcast (peer {peer}) differs from the one sent")]
    OwnBcastMismatch {
        /// Validator index.
        validator: usize,
        /// Own share index.
        peer: u32,
    },
    /// Not exactly `threshold` commitments.
    #[error("validator {validator}: peer {peer} sent {got} commitments, want {want}")]
    CommitmentCount {
        /// Validator index.
        validator: usize,
        /// Peer share index.
        peer: u32,
        /// Received count.
        got: usize,
        /// The threshold.
        want: usize,
    },
    /// A commitment that is not a valid, in-subgroup, non-identity G1 point.
    #[error("validator {validator}: peer {peer} commitment {index}: {reason}")]
    Commitment {
        /// Validator index.
        validator: usize,
        /// Peer share index.
        peer: u32,
        /// Position of the commitment (0 = A_0).
        index: usize,
        /// The decoding failure.
        reason: CurveError,
    },
    /// A proof scalar (`wi` or `ci`) that is not canonical.
    #[error("validator {validator}: peer {peer} proof field {field}: {reason}")]
    ProofScalar {
        /// Validator index.
        validator: usize,
        /// Peer share index.
        peer: u32,
        /// "wi" or "ci".
        field: &'static str,
        /// The decoding failure.
        reason: CurveError,
    },
    /// A zero challenge `ci`.
    #[error("validator {validator}: peer {peer} proof has a zero challenge")]
    ZeroChallenge {
        /// Validator index.
        validator: usize,
        /// Peer share index.
        peer: u32,
    },
    /// A Schnorr proof of knowledge whose challenge does not match.
    #[error("validator {validator}: peer {peer} proof of knowledge does not verify")]
    Proof {
        /// Validator index.
        validator: usize,
        /// Peer share index.
        peer: u32,
    },
    /// A share addressed to another participant.
    #[error("validator {validator}: peer {peer} sent a share for index {got}, want {want}")]
    ShareRecipient {
        /// Validator index.
        validator: usize,
        /// Peer share index.
        peer: u32,
        /// The share's `id` field.
        got: u32,
        /// Own share index.
        want: u32,
    },
    /// A share value that is not a canonical scalar.
    #[error("validator {validator}: peer {peer} share value: {reason}")]
    ShareValue {
        /// Validator index.
        validator: usize,
        /// Peer share index.
        peer: u32,
        /// The decoding failure.
        reason: CurveError,
    },
    /// A zero share value.
    #[error("validator {validator}: peer {peer} sent a zero share")]
    ZeroShare {
        /// Validator index.
        validator: usize,
        /// Peer share index.
        peer: u32,
    },
    /// A share that does not lie on the sender's committed polynomial.
    #[error("validator {validator}: peer {peer} share does not match its commitments")]
    Share {
        /// Validator index.
        validator: usize,
        /// Peer share index.
        peer: u32,
    },
    /// A round-2 broadcast that disagrees with the commitments.
    #[error("validator {validator}: peer {peer} round-2 {field} does not match the commitments")]
    Round2Mismatch {
        /// Validator index.
        validator: usize,
        /// Peer share index.
        peer: u32,
        /// "verification_key" or "vk_share".
        field: &'static str,
    },
    /// The derived secret share or group key is degenerate (zero / identity);
    /// only possible with adversarial inputs that cancel.
    #[error("validator {validator}: derived {what} is degenerate")]
    Degenerate {
        /// Validator index.
        validator: usize,
        /// "secret share" or "group key".
        what: &'static str,
    },
}

impl FrostError {
    /// The validator index the error is about, if any.
    pub fn validator(&self) -> Option<usize> {
        self.subject().0
    }

    /// The peer share index the error blames, if any.
    pub fn peer(&self) -> Option<u32> {
        self.subject().1
    }

    /// (validator, peer): one list of which variant names which.
    fn subject(&self) -> (Option<usize>, Option<u32>) {
        match self {
            FrostError::Parameters { .. } => (None, None),
            FrostError::MixedParameters { validator }
            | FrostError::Degenerate { validator, .. } => (Some(*validator), None),
            FrostError::MissingBcast {
                validator, peer, ..
            }
            | FrostError::MissingShare {
                validator, peer, ..
            }
            | FrostError::UnknownPeer {
                validator, peer, ..
            }
            | FrostError::OwnBcastMismatch {
                validator, peer, ..
            }
            | FrostError::CommitmentCount {
                validator, peer, ..
            }
            | FrostError::Commitment {
                validator, peer, ..
            }
            | FrostError::ProofScalar {
                validator, peer, ..
            }
            | FrostError::ZeroChallenge {
                validator, peer, ..
            }
            | FrostError::Proof {
                validator, peer, ..
            }
            | FrostError::ShareRecipient {
                validator, peer, ..
            }
            | FrostError::ShareValue {
                validator, peer, ..
            }
            | FrostError::ZeroShare {
                validator, peer, ..
            }
            | FrostError::Share {
                validator, peer, ..
            }
            | FrostError::Round2Mismatch {
                validator, peer, ..
            } => (Some(*validator), Some(*peer)),
        }
    }
}
