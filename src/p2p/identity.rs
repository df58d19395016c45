//! The node's secp256k1 identity: the `charon-enr-private-key` file, its
//! conversion to a libp2p keypair, and peer IDs derived from k1 public keys.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use libp2p::PeerId;
use libp2p::identity::{Keypair, PublicKey, secp256k1};
use zeroize::Zeroizing;

/// File name of the node identity key inside a data directory (as charon names it).
pub const KEY_FILE_NAME: &str = "charon-enr-private-key";

/// Errors loading, saving or converting identity keys.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The key file could not be read.
    #[error("read identity key {path}: {source}")]
    Read {
        /// Path of the key file.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The key file could not be written.
    #[error("write identity key {path}: {source}")]
    Write {
        /// Path of the key file.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The key file exists already and would be overwritten.
    #[error("identity key {0} already exists, refusing to overwrite it")]
    Exists(PathBuf),
    /// The key file content is not 32 bytes of hex.
    #[error("identity key {0} is not 64 hex characters (32 bytes)")]
    Malformed(PathBuf),
    /// The 32 bytes are not a valid secp256k1 scalar.
    #[error("identity key is not a valid secp256k1 private key")]
    InvalidScalar,
    /// A public key is not a valid compressed secp256k1 point.
    #[error("invalid secp256k1 public key")]
    InvalidPublicKey,
    /// A peer ID does not embed a secp256k1 public key.
    #[error("peer id {0} does not contain a secp256k1 public key")]
    NotSecp256k1(PeerId),
}

/// A node's secp256k1 private key (the ENR and libp2p identity key).
///
/// The scalar is zeroized on drop and never printed.
#[derive(Clone)]
pub struct EnrPrivateKey(k256::SecretKey);

impl fmt::Debug for EnrPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EnrPrivateKey").field(&"<redacted>").finish()
    }
}

impl EnrPrivateKey {
    /// Generates a fresh random key.
    pub fn generate() -> Self {
        Self(<k256::SecretKey as k256::elliptic_curve::Generate>::generate())
    }

    /// Builds a key from its 32 big-endian bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, IdentityError> {
        k256::SecretKey::from_slice(bytes)
            .map(Self)
            .map_err(|_| IdentityError::InvalidScalar)
    }

    /// The 32 big-endian scalar bytes, in a zeroizing buffer.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.0.to_bytes());
        out
    }

    /// The underlying k256 secret key (for ENR and k1 signing).
    pub fn secret_key(&self) -> &k256::SecretKey {
        &self.0
    }

    /// The 33-byte compressed public key.
    pub fn public_key_compressed(&self) -> [u8; 33] {
        use k256::elliptic_curve::sec1::ToSec1Point as _;
        let point = self.0.public_key().to_sec1_point(true);
        let mut out = [0u8; 33];
        out.copy_from_slice(point.as_bytes());
        out
    }

    /// The libp2p keypair using this key as a secp256k1 identity.
    pub fn to_keypair(&self) -> Result<Keypair, IdentityError> {
        let mut bytes = self.to_bytes();
        // try_from_bytes zeroizes the buffer it is given; ours is zeroized on drop too.
        let sk = secp256k1::SecretKey::try_from_bytes(&mut bytes[..])
            .map_err(|_| IdentityError::InvalidScalar)?;
        Ok(Keypair::from(secp256k1::Keypair::from(sk)))
    }

    /// The libp2p peer ID of this key.
    pub fn peer_id(&self) -> Result<PeerId, IdentityError> {
        peer_id_from_k1_pubkey(&self.public_key_compressed())
    }

    /// Loads the key from `<data_dir>/charon-enr-private-key`.
    pub fn load(data_dir: &Path) -> Result<Self, IdentityError> {
        Self::load_file(&data_dir.join(KEY_FILE_NAME))
    }

    /// Loads a key file holding the hex of 32 bytes (surrounding whitespace and
    /// a `0x` prefix are tolerated, as hand-edited files often carry them).
    pub fn load_file(path: &Path) -> Result<Self, IdentityError> {
        let raw = Zeroizing::new(fs::read(path).map_err(|source| IdentityError::Read {
            path: path.to_owned(),
            source,
        })?);
        let text = std::str::from_utf8(&raw).map_err(|_| IdentityError::Malformed(path.into()))?;
        let text = text.trim();
        let text = text.strip_prefix("0x").unwrap_or(text);
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text, &mut bytes[..])
            .map_err(|_| IdentityError::Malformed(path.into()))?;
        Self::from_bytes(&bytes)
    }

    /// Writes the key to `<data_dir>/charon-enr-private-key` (hex, no newline,
    /// mode 0600), refusing to overwrite an existing file.
    pub fn save(&self, data_dir: &Path) -> Result<PathBuf, IdentityError> {
        let path = data_dir.join(KEY_FILE_NAME);
        let write_err = |source| IdentityError::Write {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(data_dir).map_err(write_err)?;
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut file = opts.open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                IdentityError::Exists(path.clone())
            } else {
                write_err(e)
            }
        })?;
        let text = Zeroizing::new(hex::encode(&self.to_bytes()[..]));
        file.write_all(text.as_bytes()).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        Ok(path)
    }

    /// Loads the key from the data directory, creating and saving a new one if
    /// the file does not exist. Returns the key and whether it was created.
    pub fn load_or_create(data_dir: &Path) -> Result<(Self, bool), IdentityError> {
        match Self::load(data_dir) {
            Ok(key) => Ok((key, false)),
            Err(IdentityError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                let key = Self::generate();
                key.save(data_dir)?;
                Ok((key, true))
            }
            Err(e) => Err(e),
        }
    }
}

/// The libp2p peer ID of a 33-byte compressed secp256k1 public key
/// (identity multihash of the protobuf-encoded key, `16Uiu2HAm…`).
pub fn peer_id_from_k1_pubkey(pubkey: &[u8; 33]) -> Result<PeerId, IdentityError> {
    let pk = secp256k1::PublicKey::try_from_bytes(pubkey)
        .map_err(|_| IdentityError::InvalidPublicKey)?;
    Ok(PublicKey::from(pk).to_peer_id())
}

/// The compressed secp256k1 public key embedded in a peer ID.
pub fn k1_pubkey_from_peer_id(peer: &PeerId) -> Result<[u8; 33], IdentityError> {
    let mh = peer.as_ref();
    // Only identity multihashes (code 0) embed the public key itself.
    if mh.code() != 0 {
        return Err(IdentityError::NotSecp256k1(*peer));
    }
    let pk = PublicKey::try_decode_protobuf(mh.digest())
        .map_err(|_| IdentityError::NotSecp256k1(*peer))?;
    let pk = pk
        .try_into_secp256k1()
        .map_err(|_| IdentityError::NotSecp256k1(*peer))?;
    Ok(pk.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let key = EnrPrivateKey::generate();
        let path = key.save(dir.path()).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 64);
        assert!(!text.ends_with('\n'));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let loaded = EnrPrivateKey::load(dir.path()).unwrap();
        assert_eq!(*loaded.to_bytes(), *key.to_bytes());
        assert!(matches!(
            key.save(dir.path()),
            Err(IdentityError::Exists(_))
        ));
    }

    #[test]
    fn load_or_create_creates_once() {
        let dir = tempfile::tempdir().unwrap();
        let (a, created_a) = EnrPrivateKey::load_or_create(dir.path()).unwrap();
        let (b, created_b) = EnrPrivateKey::load_or_create(dir.path()).unwrap();
        assert!(created_a);
        assert!(!created_b);
        assert_eq!(*a.to_bytes(), *b.to_bytes());
    }

    #[test]
    fn malformed_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        for bad in [
            "",
            "zz",
            &"00".repeat(31),
            &"00".repeat(33),
            &"0".repeat(64),
            &"ff".repeat(32),
            "\u{fffd}",
        ] {
            fs::write(&path, bad).unwrap();
            assert!(EnrPrivateKey::load(dir.path()).is_err(), "accepted {bad:?}");
        }
        // Whitespace and a 0x prefix are tolerated.
        let key = EnrPrivateKey::generate();
        fs::write(&path, format!("0x{}\n", hex::encode(&key.to_bytes()[..]))).unwrap();
        assert_eq!(
            *EnrPrivateKey::load(dir.path()).unwrap().to_bytes(),
            *key.to_bytes()
        );
    }

    #[test]
    fn debug_is_redacted() {
        let key = EnrPrivateKey::generate();
        let dbg = format!("{key:?}");
        assert!(dbg.contains("redacted"));
        assert!(!dbg.contains(&hex::encode(&key.to_bytes()[..])));
    }

    #[test]
    fn peer_id_matches_libp2p_keypair_and_round_trips() {
        let key = EnrPrivateKey::generate();
        let kp = key.to_keypair().unwrap();
        let peer = key.peer_id().unwrap();
        assert_eq!(peer, kp.public().to_peer_id());
        assert!(peer.to_base58().starts_with("16Uiu2HA"));
        // Identity multihash: 0x00 0x25 then the 37-byte protobuf key.
        let bytes = peer.to_bytes();
        assert_eq!(bytes.len(), 39);
        assert_eq!(&bytes[..4], &[0x00, 0x25, 0x08, 0x02]);
        assert_eq!(
            k1_pubkey_from_peer_id(&peer).unwrap(),
            key.public_key_compressed()
        );
    }

    #[test]
    fn invalid_public_keys_are_rejected() {
        assert!(peer_id_from_k1_pubkey(&[0u8; 33]).is_err());
        let mut bad = [0xffu8; 33];
        bad[0] = 2;
        assert!(peer_id_from_k1_pubkey(&bad).is_err());
        assert!(k1_pubkey_from_peer_id(&PeerId::random()).is_err());
    }
}
