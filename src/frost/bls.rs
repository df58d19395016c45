//! BLS signatures on BLS12-381 (public keys in G1, signatures in G2) with the
//! Ethereum proof-of-possession ciphersuite, as herumi's Ethereum mode uses.

use blst::BLST_ERROR;
use blst::min_pk;
use zeroize::Zeroizing;

/// Domain separation tag of the proof-of-possession ciphersuite Ethereum uses.
pub const DST_POP: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

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
}

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

    fn to_blst(self) -> Result<min_pk::PublicKey, BlsError> {
        min_pk::PublicKey::uncompress(&self.0)
            .map_err(|_| BlsError::Encoding { what: "public key" })
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

    fn to_blst(self) -> Result<min_pk::Signature, BlsError> {
        min_pk::Signature::sig_validate(&self.0, false)
            .map_err(|_| BlsError::Encoding { what: "signature" })
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

    /// Signs `msg` with the proof-of-possession ciphersuite.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.to_blst().sign(msg, DST_POP, &[]).compress())
    }
}

/// Verifies `sig` over `msg` under `pk`.
pub fn verify(pk: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), BlsError> {
    let pk = pk.to_blst()?;
    let sig = sig.to_blst()?;
    match sig.verify(true, msg, DST_POP, &[], &pk, true) {
        BLST_ERROR::BLST_SUCCESS => Ok(()),
        _ => Err(BlsError::Verify),
    }
}

/// Aggregates signatures by point addition.
pub fn aggregate(sigs: &[Signature]) -> Result<Signature, BlsError> {
    if sigs.is_empty() {
        return Err(BlsError::Empty);
    }
    let parsed = sigs
        .iter()
        .map(|s| s.to_blst())
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&min_pk::Signature> = parsed.iter().collect();
    let agg = min_pk::AggregateSignature::aggregate(&refs, false)
        .map_err(|_| BlsError::Encoding { what: "signature" })?;
    Ok(Signature(agg.to_signature().compress()))
}

/// Verifies an aggregate signature of many keys over one message.
pub fn fast_aggregate_verify(
    pks: &[PublicKey],
    msg: &[u8],
    sig: &Signature,
) -> Result<(), BlsError> {
    if pks.is_empty() {
        return Err(BlsError::Empty);
    }
    let parsed = pks
        .iter()
        .map(|p| p.to_blst())
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&min_pk::PublicKey> = parsed.iter().collect();
    let sig = sig.to_blst()?;
    match sig.fast_aggregate_verify(true, msg, DST_POP, &refs) {
        BLST_ERROR::BLST_SUCCESS => Ok(()),
        _ => Err(BlsError::Verify),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_aggregate() {
        let sk1 = SecretKey::from_bytes(&[1u8; 32]).expect("valid");
        let sk2 = SecretKey::from_bytes(&[2u8; 32]).expect("valid");
        let msg = b"lock hash";
        let s1 = sk1.sign(msg);
        verify(&sk1.public_key(), msg, &s1).expect("verifies");
        assert_eq!(verify(&sk2.public_key(), msg, &s1), Err(BlsError::Verify));
        let agg = aggregate(&[s1, sk2.sign(msg)]).expect("aggregates");
        fast_aggregate_verify(&[sk1.public_key(), sk2.public_key()], msg, &agg).expect("fav");
        assert!(fast_aggregate_verify(&[sk1.public_key()], msg, &agg).is_err());
        assert!(PublicKey::from_bytes(&[0u8; 48]).is_err());
        assert!(SecretKey::from_bytes(&[0u8; 32]).is_err());
        assert!(format!("{sk1:?}").contains("redacted"));
    }
}
