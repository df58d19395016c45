//! Keys, signatures, and messages and keys prepared once for many checks.

use blst::min_pk;
use zeroize::Zeroizing;

use super::error::BlsError;
use crate::frost::curve::{self, G1, G1Affine, G2Affine, Scalar};

/// Domain separation tag of the proof-of-possession ciphersuite Ethereum uses.
pub const DST_POP: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// A BLS public key: 48-byte compressed G1 point.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 48]);

/// A BLS signature: 96-byte compressed G2 point.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 96]);

/// A BLS secret key (32-byte big-endian scalar), wiped on drop.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey(0x{})", hex::encode(self.0))
    }
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature(0x{})", hex::encode(self.0))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl PublicKey {
    /// Parses 48 bytes, rejecting anything that is not a valid non-identity point.
    pub fn from_bytes(b: &[u8]) -> Result<Self, BlsError> {
        let arr: [u8; 48] = b
            .try_into()
            .map_err(|_| BlsError::Encoding { what: "public key" })?;
        min_pk::PublicKey::key_validate(&arr)
            .map_err(|_| BlsError::Encoding { what: "public key" })?;
        Ok(PublicKey(arr))
    }

    pub(super) fn to_blst(self) -> Result<min_pk::PublicKey, BlsError> {
        min_pk::PublicKey::uncompress(&self.0)
            .map_err(|_| BlsError::Encoding { what: "public key" })
    }

    /// Decodes the key as a G1 point (subgroup-checked, non-identity).
    pub fn to_point(&self) -> Result<G1Affine, BlsError> {
        G1Affine::from_compressed(&self.0).map_err(|_| BlsError::Encoding { what: "public key" })
    }

    /// The key for compressed point bytes known to be valid (e.g. freshly
    /// computed); `None` for the identity encoding.
    pub(crate) fn from_point_bytes(bytes: &[u8; 48]) -> Option<Self> {
        // Bit 6 of the first byte is the infinity flag.
        if bytes[0] & 0x40 != 0 {
            return None;
        }
        Some(PublicKey(*bytes))
    }

    /// The key for a G1 point, which must not be the identity.
    pub fn from_point(p: &G1) -> Result<Self, BlsError> {
        if p.is_identity() {
            return Err(BlsError::Encoding { what: "public key" });
        }
        Ok(PublicKey(p.to_compressed()))
    }
}

impl Signature {
    /// Parses 96 bytes, rejecting anything that is not a valid G2 point in the subgroup.
    pub fn from_bytes(b: &[u8]) -> Result<Self, BlsError> {
        let arr: [u8; 96] = b
            .try_into()
            .map_err(|_| BlsError::Encoding { what: "signature" })?;
        min_pk::Signature::sig_validate(&arr, false)
            .map_err(|_| BlsError::Encoding { what: "signature" })?;
        Ok(Signature(arr))
    }

    pub(super) fn to_blst(self) -> Result<min_pk::Signature, BlsError> {
        min_pk::Signature::sig_validate(&self.0, false)
            .map_err(|_| BlsError::Encoding { what: "signature" })
    }

    pub(super) fn to_point(self) -> Result<G2Affine, BlsError> {
        G2Affine::from_compressed(&self.0).map_err(|_| BlsError::Encoding { what: "signature" })
    }
}

impl SecretKey {
    /// Parses a 32-byte big-endian non-zero scalar below the group order.
    pub fn from_bytes(b: &[u8]) -> Result<Self, BlsError> {
        min_pk::SecretKey::from_bytes(b).map_err(|_| BlsError::Encoding { what: "secret key" })?;
        let mut arr = Zeroizing::new([0u8; 32]);
        arr.copy_from_slice(b);
        Ok(SecretKey(arr))
    }

    /// The key for a secret scalar, which must not be zero.
    pub fn from_scalar(s: &Scalar) -> Result<Self, BlsError> {
        if s.is_zero() {
            return Err(BlsError::Encoding { what: "secret key" });
        }
        Ok(SecretKey(s.to_be_bytes_zeroizing()))
    }

    /// The secret as a field element.
    pub fn to_scalar(&self) -> Scalar {
        // Validated as canonical and non-zero on construction.
        Scalar::from_be_bytes_reduced(self.0.as_slice())
    }

    /// The 32 secret bytes; callers must keep them in zeroizing storage.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.0.clone()
    }

    fn to_blst(&self) -> min_pk::SecretKey {
        // The bytes were validated on construction.
        match min_pk::SecretKey::from_bytes(self.0.as_slice()) {
            Ok(sk) => sk,
            Err(_) => unreachable!("secret key validated at construction"),
        }
    }

    /// The public key `sk * G1`.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.to_blst().sk_to_pk().compress())
    }

    /// Signs a message hashed once with [`HashedMessage::new`]; equal to
    /// [`SecretKey::sign`] of the same message.
    pub fn sign_hashed(&self, msg: &HashedMessage) -> Signature {
        Signature(msg.0.mul_secret(&self.to_scalar()).to_compressed())
    }

    /// Signs `msg` with the proof-of-possession ciphersuite.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.to_blst().sign(msg, DST_POP, &[]).compress())
    }
}

/// A message hashed to G2 with the proof-of-possession ciphersuite. Hashing is
/// a large share of signing and verifying, so a message that many shares sign
/// and many partials are checked against is hashed once.
#[derive(Clone, Copy, Debug)]
pub struct HashedMessage(pub(super) G2Affine);

impl HashedMessage {
    /// Hashes `msg` to G2.
    pub fn new(msg: &[u8]) -> Self {
        HashedMessage(curve::hash_to_g2(msg, DST_POP))
    }
}

/// A public key decoded and subgroup-checked once, for keys checked many
/// times (a validator's public shares are used in every exchange).
#[derive(Clone, Copy, Debug)]
pub struct PreparedKey(pub(super) G1Affine);

impl PublicKey {
    /// Decodes and checks the key once for repeated use.
    pub fn prepare(&self) -> Result<PreparedKey, BlsError> {
        self.to_point().map(PreparedKey)
    }
}
