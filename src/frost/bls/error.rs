//! The error of BLS operations.

use crate::frost::curve::CurveError;

/// Why a BLS operation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlsError {
    /// Bytes that are not a valid, in-subgroup, non-identity point or scalar.
    #[error("invalid BLS {what} encoding")]
    Encoding {
        /// "public key", "signature" or "secret key".
        what: &'static str,
    },
    /// A signature that does not verify.
    #[error("BLS signature does not verify")]
    Verify,
    /// Nothing to aggregate.
    #[error("nothing to aggregate")]
    Empty,
    /// A set of share indices that cannot be interpolated (zero or duplicate).
    #[error("invalid share indices: {0}")]
    ShareIndex(CurveError),
    /// Interpolation produced the point at infinity.
    #[error("combined {what} is the identity")]
    IdentityResult {
        /// "public key" or "signature".
        what: &'static str,
    },
    /// An item of a batch with an undecodable key or signature.
    #[error("batch item {position}: invalid BLS {what} encoding")]
    ItemEncoding {
        /// 0-based position of the item in the batch.
        position: usize,
        /// "public key" or "signature".
        what: &'static str,
    },
    /// An item of a batch whose signature does not verify.
    #[error("batch item {position}: BLS signature does not verify")]
    ItemVerify {
        /// 0-based position of the item in the batch.
        position: usize,
    },
}
