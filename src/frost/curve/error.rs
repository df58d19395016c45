//! The error of scalar and point operations.

/// Why a scalar or point operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurveError {
    /// A scalar encoding that is not exactly 32 bytes.
    #[error("scalar must be 32 bytes, got {0}")]
    ScalarLength(usize),
    /// A scalar encoding that is not below the group order r.
    #[error("scalar is not canonical (not below the group order)")]
    NonCanonicalScalar,
    /// A point encoding that is not exactly 48 bytes.
    #[error("G1 point must be 48 bytes, got {0}")]
    PointLength(usize),
    /// Bad compression flags, non-canonical x, or x not on the curve.
    #[error("invalid G1 point encoding")]
    PointEncoding,
    /// A point on the curve but outside the prime-order subgroup.
    #[error("G1 point is not in the prime-order subgroup")]
    NotInSubgroup,
    /// The point at infinity where a proper point is required.
    #[error("G1 point is the identity")]
    Identity,
    /// A share index of zero (index 0 is where the secret lives).
    #[error("share index 0 is not allowed")]
    ZeroIndex,
    /// The same share index twice in one set.
    #[error("duplicate share index {0}")]
    DuplicateIndex(u64),
    /// An empty set where at least one element is required.
    #[error("empty input")]
    Empty,
    /// Points and scalars of different lengths.
    #[error("{points} points but {scalars} scalars")]
    LengthMismatch {
        /// Number of points.
        points: usize,
        /// Number of scalars.
        scalars: usize,
    },
    /// Inverting zero.
    #[error("zero has no inverse")]
    ZeroInverse,
}
