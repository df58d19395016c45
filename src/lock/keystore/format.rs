//! EIP-2335 (version 4) keystores as charon writes and reads them
//! (`eth2util/keystore`, keystorev4): pbkdf2 or scrypt KDF, AES-128-CTR,
//! SHA-256 checksum; `validator_keys/keystore-<i>.json` with a `.txt` password.

use std::path::PathBuf;

use aes::cipher::{KeyIvInit, StreamCipher};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::frost::bls::SecretKey;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// pbkdf2 iteration count charon (keystorev4) uses: 2^18.
pub const DEFAULT_PBKDF2_C: u32 = 1 << 18;
/// pbkdf2 iteration count of charon's insecure test keystores: 2^4.
pub const INSECURE_PBKDF2_C: u32 = 1 << 4;
/// The derivation path charon writes for every key.
pub const KEYSTORE_PATH: &str = "m/12381/3600/0/0/0";

/// Largest pbkdf2 iteration count accepted when reading (2^24), so a hostile
/// keystore cannot pin a CPU for hours.
pub const MAX_PBKDF2_C: u32 = 1 << 24;
/// Largest scrypt `n * r` accepted when reading (2^21 * 8: 2 GiB of memory).
pub const MAX_SCRYPT_NR: u64 = (1 << 21) * 8;

/// Why a keystore could not be written, read or decrypted.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// A checksum mismatch: the password is wrong or the file was altered.
    #[error("keystore {file}: checksum mismatch (wrong password or corrupted keystore)")]
    Checksum {
        /// The keystore (file name or "keystore").
        file: String,
    },
    /// A keystore JSON that is malformed or uses unsupported parameters.
    #[error("keystore {file}: {reason}")]
    Invalid {
        /// The keystore (file name or "keystore").
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// Keystore file names that are not exactly indexes 0..N-1.
    #[error("keystores in {dir}: {reason}")]
    Indexes {
        /// The directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A keys directory that already holds files.
    #[error("keys directory {0} is not empty; refusing to overwrite existing keys")]
    NotEmpty(PathBuf),
    /// No keystores found.
    #[error("no keystore-*.json files found in {0}")]
    NoKeys(PathBuf),
    /// An I/O failure.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A password, wiped on drop and never printed.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Password(Zeroizing::new(s.into()))
    }

    /// A fresh charon-style password: 16 random bytes as 32 lowercase hex characters.
    pub fn random() -> Self {
        let mut b = Zeroizing::new([0u8; 16]);
        rand::rngs::OsRng.fill_bytes(b.as_mut_slice());
        Password(Zeroizing::new(hex::encode(b.as_slice())))
    }

    /// A fresh keymanager-import password as charon makes them: 32 random
    /// bytes as 64 lowercase hex characters.
    pub fn random_keymanager() -> Self {
        let mut b = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(b.as_mut_slice());
        Password(Zeroizing::new(hex::encode(b.as_slice())))
    }

    /// The password text.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// EIP-2335 password normalisation: NFKD, then drop C0 controls, DEL and C1 controls.
pub fn normalize_password(p: &str) -> Zeroizing<String> {
    Zeroizing::new(
        p.nfkd()
            .filter(|c| !matches!(*c as u32, 0x00..=0x1f | 0x7f | 0x80..=0x9f))
            .collect(),
    )
}

/// keystorev4's variant, which only drops single-byte controls (it keeps
/// C1 controls); tried second so keystores made by Go tools still open.
fn normalize_password_go(p: &str) -> Zeroizing<String> {
    Zeroizing::new(
        p.nfkd()
            .filter(|c| !matches!(*c as u32, 0x00..=0x1f | 0x7f))
            .collect(),
    )
}

/// The JSON of an EIP-2335 keystore. Field order is charon's output order;
/// unknown fields (such as `name`) are ignored when reading.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Keystore {
    /// KDF, cipher and checksum modules.
    pub crypto: Crypto,
    /// Free text; charon writes `""`.
    #[serde(default)]
    pub description: String,
    /// Public key of the encrypted secret, hex without `0x`.
    #[serde(default)]
    pub pubkey: String,
    /// EIP-2334 path; charon writes `m/12381/3600/0/0/0`.
    #[serde(default)]
    pub path: String,
    /// Identifier; charon writes 16 random bytes as `%X-%X-%X-%X-%X`.
    #[serde(default)]
    pub uuid: String,
    /// Keystore version; must be 4.
    pub version: u32,
}

/// The `crypto` object (a Go map in charon, hence alphabetical keys).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Crypto {
    /// Checksum module.
    pub checksum: Module<EmptyParams>,
    /// Cipher module.
    pub cipher: Module<CipherParams>,
    /// Key-derivation module.
    pub kdf: Module<KdfParams>,
}

/// One EIP-2335 crypto module.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Module<P> {
    /// Algorithm name.
    pub function: String,
    /// Hex message.
    #[serde(default)]
    pub message: String,
    /// Module parameters.
    pub params: P,
}

/// `{}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EmptyParams {}

/// Cipher parameters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CipherParams {
    /// 16-byte IV, hex.
    pub iv: String,
}

/// KDF parameters for pbkdf2 (`c`, `prf`) or scrypt (`n`, `p`, `r`), in the
/// alphabetical order Go writes map keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KdfParams {
    /// pbkdf2 iteration count.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub c: Option<u32>,
    /// Derived key length; 32.
    pub dklen: u32,
    /// scrypt cost.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<u64>,
    /// scrypt parallelism.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p: Option<u32>,
    /// pbkdf2 PRF; `hmac-sha256`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prf: Option<String>,
    /// scrypt block size.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub r: Option<u32>,
    /// Salt, hex.
    pub salt: String,
}

/// Go `%X-%X-%X-%X-%X` over 16 random bytes split 4-2-2-2-6.
fn charon_uuid() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let u = |r: std::ops::Range<usize>| hex::encode_upper(b.get(r).unwrap_or_default());
    format!(
        "{}-{}-{}-{}-{}",
        u(0..4),
        u(4..6),
        u(6..8),
        u(8..10),
        u(10..16)
    )
}

fn pbkdf2_key(password: &str, salt: &[u8], c: u32) -> Zeroizing<[u8; 32]> {
    let mut dk = Zeroizing::new([0u8; 32]);
    crate::lock::keystore::pbkdf2::pbkdf2_hmac_sha256(
        password.as_bytes(),
        salt,
        c,
        dk.as_mut_slice(),
    );
    dk
}

fn checksum(dk: &[u8; 32], cipher: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(&dk[16..]);
    h.update(cipher);
    h.finalize().into()
}

fn aes_ctr(dk: &[u8; 32], iv: &[u8; 16], data: &mut [u8]) {
    let mut key = Zeroizing::new([0u8; 16]);
    key.copy_from_slice(&dk[..16]);
    let mut c = Aes128Ctr::new(key.as_slice().into(), iv.into());
    c.apply_keystream(data);
}

/// Encrypts `secret` with pbkdf2 (`c` iterations), a fresh salt, IV and uuid.
pub fn encrypt(secret: &SecretKey, password: &Password, c: u32) -> Keystore {
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let dk = pbkdf2_key(&normalize_password(password.expose()), &salt, c);
    seal(secret, &dk, salt, iv, c)
}

/// Builds the keystore of `secret` encrypted under the derived key `dk`.
pub(crate) fn seal(
    secret: &SecretKey,
    dk: &[u8; 32],
    salt: [u8; 32],
    iv: [u8; 16],
    c: u32,
) -> Keystore {
    let mut msg = secret.to_bytes();
    aes_ctr(dk, &iv, msg.as_mut_slice());
    Keystore {
        crypto: Crypto {
            checksum: Module {
                function: "sha256".into(),
                params: EmptyParams {},
                message: hex::encode(checksum(dk, msg.as_slice())),
            },
            cipher: Module {
                function: "aes-128-ctr".into(),
                params: CipherParams {
                    iv: hex::encode(iv),
                },
                message: hex::encode(msg.as_slice()),
            },
            kdf: Module {
                function: "pbkdf2".into(),
                params: KdfParams {
                    c: Some(c),
                    dklen: 32,
                    n: None,
                    p: None,
                    prf: Some("hmac-sha256".into()),
                    r: None,
                    salt: hex::encode(salt),
                },
                message: String::new(),
            },
        },
        description: String::new(),
        pubkey: hex::encode(secret.public_key().0),
        path: KEYSTORE_PATH.into(),
        uuid: charon_uuid(),
        version: 4,
    }
}

fn hex_field(file: &str, field: &str, s: &str) -> Result<Vec<u8>, KeystoreError> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| KeystoreError::Invalid {
        file: file.into(),
        reason: format!("{field} is not hex: {e}"),
    })
}

/// Derives the 32-byte decryption key, bounding the KDF cost.
fn derive_key(
    ks: &Keystore,
    file: &str,
    password: &str,
) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let invalid = |reason: String| KeystoreError::Invalid {
        file: file.into(),
        reason,
    };
    let kdf = &ks.crypto.kdf;
    if kdf.params.dklen != 32 {
        return Err(invalid(format!(
            "unsupported kdf dklen {}",
            kdf.params.dklen
        )));
    }
    let salt = hex_field(file, "kdf salt", &kdf.params.salt)?;
    match kdf.function.as_str() {
        "pbkdf2" => {
            let prf = kdf.params.prf.as_deref().unwrap_or("");
            if prf != "hmac-sha256" {
                return Err(invalid(format!("unsupported pbkdf2 prf {prf:?}")));
            }
            let c = kdf
                .params
                .c
                .ok_or_else(|| invalid("pbkdf2 without c".into()))?;
            if c == 0 || c > MAX_PBKDF2_C {
                return Err(invalid(format!("pbkdf2 c {c} outside 1..={MAX_PBKDF2_C}")));
            }
            Ok(pbkdf2_key(password, &salt, c))
        }
        "scrypt" => {
            let (n, r, p) = match (kdf.params.n, kdf.params.r, kdf.params.p) {
                (Some(n), Some(r), Some(p)) => (n, r, p),
                _ => return Err(invalid("scrypt needs n, r and p".into())),
            };
            if !n.is_power_of_two() || n < 2 {
                return Err(invalid(format!("scrypt n {n} is not a power of two > 1")));
            }
            if u64::from(r).saturating_mul(n) > MAX_SCRYPT_NR || p > 16 {
                return Err(invalid(format!(
                    "scrypt parameters n={n} r={r} p={p} are too costly"
                )));
            }
            let log_n = u8::try_from(n.trailing_zeros())
                .map_err(|_| invalid("scrypt n too large".into()))?;
            let params = scrypt::Params::new(log_n, r, p, 32)
                .map_err(|_| invalid(format!("invalid scrypt parameters n={n} r={r} p={p}")))?;
            let mut dk = Zeroizing::new([0u8; 32]);
            scrypt::scrypt(password.as_bytes(), &salt, &params, dk.as_mut_slice())
                .map_err(|_| invalid("scrypt failed".into()))?;
            Ok(dk)
        }
        other => Err(invalid(format!("unsupported kdf {other:?}"))),
    }
}

/// Decrypts a keystore. `file` names it in error messages.
pub fn decrypt(ks: &Keystore, password: &Password, file: &str) -> Result<SecretKey, KeystoreError> {
    let invalid = |reason: String| KeystoreError::Invalid {
        file: file.into(),
        reason,
    };
    if ks.version != 4 {
        return Err(invalid(format!(
            "unsupported keystore version {}",
            ks.version
        )));
    }
    if ks.crypto.checksum.function != "sha256" {
        return Err(invalid(format!(
            "unsupported checksum {:?}",
            ks.crypto.checksum.function
        )));
    }
    if ks.crypto.cipher.function != "aes-128-ctr" {
        return Err(invalid(format!(
            "unsupported cipher {:?}",
            ks.crypto.cipher.function
        )));
    }
    let iv: [u8; 16] = hex_field(file, "cipher iv", &ks.crypto.cipher.params.iv)?
        .try_into()
        .map_err(|_| invalid("cipher iv must be 16 bytes".into()))?;
    let cipher = hex_field(file, "cipher message", &ks.crypto.cipher.message)?;
    if cipher.len() != 32 {
        return Err(invalid(format!(
            "cipher message is {} bytes, expected 32",
            cipher.len()
        )));
    }
    let want = hex_field(file, "checksum message", &ks.crypto.checksum.message)?;

    let strict = normalize_password(password.expose());
    let go = normalize_password_go(password.expose());
    let candidates: Vec<&str> = if *strict == *go {
        vec![strict.as_str()]
    } else {
        vec![strict.as_str(), go.as_str()]
    };
    for pw in candidates {
        let dk = derive_key(ks, file, pw)?;
        if checksum(&dk, &cipher).as_slice() != want.as_slice() {
            continue;
        }
        let mut plain = Zeroizing::new([0u8; 32]);
        plain.copy_from_slice(&cipher);
        aes_ctr(&dk, &iv, plain.as_mut_slice());
        let sk = SecretKey::from_bytes(plain.as_slice())
            .map_err(|_| invalid("decrypted secret is not a valid BLS secret key".into()))?;
        if !ks.pubkey.is_empty() {
            let pk = hex_field(file, "pubkey", &ks.pubkey)?;
            if pk.as_slice() != sk.public_key().0.as_slice() {
                return Err(invalid("pubkey does not match the decrypted secret".into()));
            }
        }
        return Ok(sk);
    }
    Err(KeystoreError::Checksum { file: file.into() })
}

/// Renders a keystore as charon does: Go `json.MarshalIndent` with a
/// one-space indent and no trailing newline.
pub fn to_json(ks: &Keystore) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Serialising plain strings and integers into a Vec cannot fail.
    if ks.serialize(&mut ser).is_err() {
        out.clear();
    }
    out
}

/// Parses keystore JSON.
pub fn from_json(bytes: &[u8], file: &str) -> Result<Keystore, KeystoreError> {
    serde_json::from_slice(bytes).map_err(|e| KeystoreError::Invalid {
        file: file.into(),
        reason: format!("invalid JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_layout() {
        let u = charon_uuid();
        let parts: Vec<_> = u.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert!(
            u.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize_password("abc\n").as_str(), "abc");
        assert_eq!(normalize_password("a\u{7f}b\u{85}c").as_str(), "abc");
        assert_eq!(
            normalize_password_go("a\u{7f}b\u{85}c").as_str(),
            "ab\u{85}c"
        );
        // NFKD decomposes compatibility characters and accents.
        assert_eq!(normalize_password("\u{fb01}").as_str(), "fi");
        assert_eq!(normalize_password("ü").as_str(), "u\u{308}");
        assert!(format!("{:?}", Password::new("secret")).contains("redacted"));
        assert_eq!(Password::random_keymanager().expose().len(), 64);
        let p = Password::random();
        assert_eq!(p.expose().len(), 32);
        assert!(
            p.expose()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
}
