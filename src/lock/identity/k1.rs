//! secp256k1 keys and charon's 65-byte `R ‖ S ‖ V` signatures (`app/k1util`),
//! plus Ethereum addresses derived from public keys.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use k256::elliptic_curve::Generate as _;
use k256::elliptic_curve::sec1::ToSec1Point as _;
use sha3::{Digest, Keccak256};
use zeroize::Zeroizing;

/// Why a k1 operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum K1Error {
    /// A secret that is not a valid non-zero scalar.
    #[error("invalid secp256k1 private key")]
    InvalidSecret,
    /// A public key encoding that does not parse.
    #[error("invalid secp256k1 public key")]
    InvalidPublicKey,
    /// A signature of the wrong length.
    #[error("signature is {0} bytes, expected {1}")]
    SignatureLength(usize, usize),
    /// A digest that is not 32 bytes.
    #[error("digest is {0} bytes, expected 32")]
    DigestLength(usize),
    /// V not in {0, 1, 27, 28}.
    #[error("invalid recovery id {0}")]
    RecoveryId(u8),
    /// R or S zero or not below the group order.
    #[error("signature R or S out of range")]
    Scalar,
    /// No public key can be recovered from the signature.
    #[error("public key cannot be recovered from signature")]
    Recover,
    /// An address that is not `0x` + 40 hex characters.
    #[error("invalid ethereum address {0:?}")]
    Address(String),
}

/// A secp256k1 private key (ENR key or wallet key); Debug never shows it.
#[derive(Clone)]
pub struct K1Secret(SigningKey);

impl std::fmt::Debug for K1Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("K1Secret(<redacted>)")
    }
}

impl K1Secret {
    /// Parses a 32-byte big-endian scalar.
    pub fn from_bytes(b: &[u8]) -> Result<K1Secret, K1Error> {
        SigningKey::from_slice(b)
            .map(K1Secret)
            .map_err(|_| K1Error::InvalidSecret)
    }

    /// Parses hex (as in `charon-enr-private-key`), surrounding whitespace ignored.
    pub fn from_hex(s: &str) -> Result<K1Secret, K1Error> {
        let b = Zeroizing::new(hex::decode(s.trim()).map_err(|_| K1Error::InvalidSecret)?);
        K1Secret::from_bytes(&b)
    }

    /// A fresh random key.
    pub fn random() -> K1Secret {
        K1Secret(SigningKey::generate())
    }

    /// The 32 secret bytes, in zeroizing storage.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes().into())
    }

    /// The public key.
    pub fn public_key(&self) -> k256::PublicKey {
        k256::PublicKey::from(self.0.verifying_key())
    }

    /// The k256 signing key, for callers (e.g. libp2p identity) that need it.
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }
}

/// Signs a 32-byte digest: RFC 6979, low-S, `R ‖ S ‖ V` with V ∈ {0, 1}.
pub fn sign65(secret: &K1Secret, digest: &[u8; 32]) -> Result<[u8; 65], K1Error> {
    sign65_with_key(&secret.0, digest)
}

/// [`sign65`] with a bare signing key (the p2p identity key).
pub fn sign65_with_key(key: &SigningKey, digest: &[u8; 32]) -> Result<[u8; 65], K1Error> {
    let (sig, recid) = key.sign_prehash_recoverable(digest);
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&sig.to_bytes());
    out[64] = recid.to_byte();
    Ok(out)
}

/// Parses `R ‖ S` into a low-S signature; the flag says whether S was flipped.
fn parse_rs(rs: &[u8]) -> Result<(Signature, bool), K1Error> {
    let sig = Signature::from_slice(rs).map_err(|_| K1Error::Scalar)?;
    // charon (decred) has no low-S rule; k256 requires low S, and (r, n - s)
    // verifies exactly when (r, s) does, with the opposite y parity.
    let low = sig.normalize_s();
    Ok((low, low != sig))
}

/// Recovers the signer of a 65-byte signature over a 32-byte digest, accepting
/// V ∈ {0, 1, 27, 28} and high-S signatures as charon does.
pub fn recover65(digest: &[u8], sig: &[u8]) -> Result<k256::PublicKey, K1Error> {
    if digest.len() != 32 {
        return Err(K1Error::DigestLength(digest.len()));
    }
    let (rs, v) = match sig {
        [rs @ .., v] if sig.len() == 65 => (rs, *v),
        _ => return Err(K1Error::SignatureLength(sig.len(), 65)),
    };
    let parity = match v {
        0 | 27 => false,
        1 | 28 => true,
        other => return Err(K1Error::RecoveryId(other)),
    };
    let (sig, flipped) = parse_rs(rs)?;
    let recid = RecoveryId::new(parity ^ flipped, false);
    VerifyingKey::recover_from_prehash(digest, &sig, recid)
        .map(|vk| k256::PublicKey::from(&vk))
        .map_err(|_| K1Error::Recover)
}

/// Whether `sig` (65 bytes) recovers to `pubkey`.
pub fn verify65(pubkey: &k256::PublicKey, digest: &[u8], sig: &[u8]) -> Result<bool, K1Error> {
    Ok(recover65(digest, sig)? == *pubkey)
}

/// Verifies a 64-byte `R ‖ S` signature (as in ENRs), without a low-S rule.
pub fn verify64(pubkey: &k256::PublicKey, digest: &[u8], sig: &[u8]) -> Result<bool, K1Error> {
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    if sig.len() != 64 {
        return Err(K1Error::SignatureLength(sig.len(), 64));
    }
    let (sig, _) = parse_rs(sig)?;
    Ok(VerifyingKey::from(pubkey)
        .verify_prehash(digest, &sig)
        .is_ok())
}

/// Parses a SEC1 public key (33-byte compressed or 65-byte uncompressed).
pub fn parse_public_key(b: &[u8]) -> Result<k256::PublicKey, K1Error> {
    if b.len() != 33 && b.len() != 65 {
        return Err(K1Error::InvalidPublicKey);
    }
    k256::PublicKey::from_sec1_bytes(b).map_err(|_| K1Error::InvalidPublicKey)
}

/// The 33-byte compressed encoding.
pub fn compressed(pk: &k256::PublicKey) -> [u8; 33] {
    let mut out = [0u8; 33];
    out.copy_from_slice(pk.to_sec1_point(true).as_bytes());
    out
}

/// The Ethereum address of a public key: the last 20 bytes of
/// keccak256(uncompressed key without its 0x04 prefix).
pub fn address_from_pubkey(pk: &k256::PublicKey) -> [u8; 20] {
    let point = pk.to_sec1_point(false);
    let hash = Keccak256::digest(point.as_bytes().get(1..).unwrap_or_default());
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    out
}

/// EIP-55 checksummed `0x` address.
pub fn checksum_address(addr: &[u8; 20]) -> String {
    let lower = hex::encode(addr);
    let hash = hex::encode(Keccak256::digest(lower.as_bytes()));
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (c, h) in lower.chars().zip(hash.bytes()) {
        if c.is_ascii_alphabetic() && h > b'7' {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses an address as charon's `ChecksumAddress` does: `0x` + 40 hex digits of
/// any case.
pub fn parse_address(s: &str) -> Result<[u8; 20], K1Error> {
    let bad = || K1Error::Address(s.chars().take(64).collect());
    let h = s.strip_prefix("0x").ok_or_else(bad)?;
    if h.len() != 40 {
        return Err(bad());
    }
    let mut out = [0u8; 20];
    hex::decode_to_slice(h, &mut out).map_err(|_| bad())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // shared/vectors/inline_vectors.json -> k1util
    #[test]
    fn charon_k1util_vector() {
        let sk =
            K1Secret::from_hex("41d3ff12045b73c870529fe44f70dca2745bafbe1698ffc3c8759eef3cfbaee1")
                .unwrap();
        assert_eq!(
            hex::encode(compressed(&sk.public_key())),
            "02bc8e7cdb50e0ffd52a54faf984d6ac8fe5ee6856d38a5f8acd9bd33fc9c7d50d"
        );
        let digest: [u8; 32] =
            hex::decode("52fdfc072182654f163f5f0f9a621d729566c74d10037c4d7bbb0407d1e2c649")
                .unwrap()
                .try_into()
                .unwrap();
        let sig = sign65(&sk, &digest).unwrap();
        assert_eq!(
            hex::encode(sig),
            "e08097bed6dc40d70aa0076f9d8250057566cdf40c652b3785ad9c06b1e38d584f8f331bf46f68e3737823a3bda905e90ca96735d510a6934b215753c09acec201"
        );
        assert!(verify65(&sk.public_key(), &digest, &sig).unwrap());
        assert!(verify64(&sk.public_key(), &digest, &sig[..64]).unwrap());
        assert!(format!("{sk:?}").contains("redacted"));
    }

    #[test]
    fn recovery_accepts_charon_encodings_and_rejects_others() {
        let sk = K1Secret::from_bytes(&[7u8; 32]).unwrap();
        let pk = sk.public_key();
        let digest = [9u8; 32];
        let sig = sign65(&sk, &digest).unwrap();
        // V = 27/28.
        let mut s27 = sig;
        s27[64] += 27;
        assert!(verify65(&pk, &digest, &s27).unwrap());
        // High-S twin with flipped V.
        let n = hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
            .unwrap();
        let mut s_hi = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(n[i]) - i16::from(sig[32 + i]) - borrow;
            s_hi[i] = (d.rem_euclid(256)) as u8;
            borrow = i16::from(d < 0);
        }
        let mut twin = sig;
        twin[32..64].copy_from_slice(&s_hi);
        twin[64] ^= 1;
        assert!(verify65(&pk, &digest, &twin).unwrap());
        assert!(verify64(&pk, &digest, &twin[..64]).unwrap());
        // V = 2 rejected.
        let mut v2 = sig;
        v2[64] = 2;
        assert_eq!(recover65(&digest, &v2), Err(K1Error::RecoveryId(2)));
        // Wrong V recovers another key.
        let mut wrong = sig;
        wrong[64] ^= 1;
        assert!(!verify65(&pk, &digest, &wrong).unwrap_or(false));
        // Zero R, lengths.
        let mut zero = sig;
        zero[..32].fill(0);
        assert!(recover65(&digest, &zero).is_err());
        assert!(recover65(&digest, &sig[..64]).is_err());
        assert!(recover65(&[0u8; 31], &sig).is_err());
    }

    #[test]
    fn addresses() {
        let sk = K1Secret::from_bytes(&[1u8; 32]).unwrap();
        let addr = address_from_pubkey(&sk.public_key());
        // The creator address of charon's cluster-lock-003 example.
        assert!(checksum_address(&addr).starts_with("0x1a642f0E"));
        assert_eq!(
            parse_address(&checksum_address(&addr).to_lowercase()).unwrap(),
            addr
        );
        assert!(parse_address("1a642f0e3c3af545e7acbd38b07251b3990914f1").is_err());
        assert!(parse_address("0x1234").is_err());
    }
}
