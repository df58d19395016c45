//! This node's identity: the ENR private key, the ENR derived from it (checked
//! against the ENR file the chart mounts), and installing the key in the charon
//! data directory where the DKG expects it.

use std::path::{Path, PathBuf};

use super::artifacts::{ENR_KEY_FILE, write_atomic};
use super::defn::{self, SecretKey};

/// A problem with the node's keys or ENR; fatal, the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A key file is missing or unreadable.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// Which file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key or ENR file has unusable content.
    #[error("{what} {path}: {reason}")]
    Invalid {
        /// Which file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Files that must agree do not.
    #[error("{0}")]
    Mismatch(String),
    /// Writing the key into the data directory failed.
    #[error("cannot install the ENR private key at {path}: {source}")]
    Install {
        /// Target path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The node key and its ENR. The key never appears in `Debug` output.
pub struct NodeIdentity {
    key: SecretKey,
    /// The ENR this node is known by (the ENR file's text when it matches the key).
    pub enr: String,
    /// Compressed secp256k1 public key.
    pub public_key: [u8; 33],
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("key", &"<redacted>")
            .field("enr", &self.enr)
            .finish()
    }
}

impl NodeIdentity {
    /// The node's private key.
    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    /// An identity from a key, with the derived ENR.
    pub fn from_key(key: SecretKey) -> Result<Self, defn::DefnError> {
        let enr = defn::enr_from_key(&key)?;
        let public_key = defn::public_key(&key);
        Ok(NodeIdentity {
            key,
            enr,
            public_key,
        })
    }

    /// Loads the key from `key_file` and, when `enr_file` exists, checks that its
    /// ENR belongs to that key (then its exact text is used).
    pub fn load(key_file: &Path, enr_file: &Path) -> Result<Self, IdentityError> {
        let key = read_secret_key(key_file, "ENR private key file (CHARON_PRIVATE_KEY_FILE)")?;
        let mut id = NodeIdentity::from_key(key).map_err(|e| IdentityError::Invalid {
            what: "ENR private key file",
            path: key_file.to_path_buf(),
            reason: e.0,
        })?;
        match std::fs::read_to_string(enr_file) {
            Ok(text) => {
                let text = text.trim();
                let invalid = |reason: String| IdentityError::Invalid {
                    what: "ENR file (ENR_FILE_PATH)",
                    path: enr_file.to_path_buf(),
                    reason,
                };
                if text.is_empty() {
                    return Err(invalid("is empty".into()));
                }
                let pk = defn::enr_public_key(text).map_err(|e| invalid(e.0))?;
                if pk != id.public_key {
                    return Err(IdentityError::Mismatch(format!(
                        "ENR MISMATCH: the ENR in {} does not belong to the key in {} (derived ENR {})",
                        enr_file.display(),
                        key_file.display(),
                        id.enr
                    )));
                }
                id.enr = text.to_string();
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!(
                    "ENR file {} not found; using the ENR derived from the key",
                    enr_file.display()
                );
            }
            Err(source) => {
                return Err(IdentityError::Read {
                    what: "ENR file (ENR_FILE_PATH)",
                    path: enr_file.to_path_buf(),
                    source,
                });
            }
        }
        Ok(id)
    }

    /// Makes sure `<data_dir>/charon-enr-private-key` holds this key (mode 0600),
    /// copying it there when it lives elsewhere; refuses to replace a different key.
    pub fn install(&self, data_dir: &Path) -> Result<PathBuf, IdentityError> {
        let target = data_dir.join(ENR_KEY_FILE);
        // The existing file holds a private key: zeroized when dropped.
        match std::fs::read_to_string(&target).map(zeroize::Zeroizing::new) {
            Ok(existing) => {
                let same = defn::parse_secret_key(&existing)
                    .map(|k| defn::public_key(&k) == self.public_key)
                    .unwrap_or(false);
                if same {
                    return Ok(target);
                }
                return Err(IdentityError::Mismatch(format!(
                    "{} holds a different ENR private key than CHARON_PRIVATE_KEY_FILE; refusing to overwrite it",
                    target.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(IdentityError::Read {
                    what: "data directory key",
                    path: target,
                    source,
                });
            }
        }
        let hex = defn::secret_key_hex(&self.key);
        write_atomic(&target, hex.as_bytes(), 0o600).map_err(|source| IdentityError::Install {
            path: target.clone(),
            source,
        })?;
        tracing::info!("Copied the ENR private key into {}", target.display());
        Ok(target)
    }
}

/// Reads a hex secp256k1 private key file.
pub fn read_secret_key(path: &Path, what: &'static str) -> Result<SecretKey, IdentityError> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
        IdentityError::Read {
            what,
            path: path.to_path_buf(),
            source,
        }
    })?);
    defn::parse_secret_key(&text).map_err(|e| IdentityError::Invalid {
        what,
        path: path.to_path_buf(),
        reason: e.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SecretKey {
        defn::parse_secret_key(&hex::encode([b; 32])).unwrap()
    }

    #[test]
    fn derives_charon_enr() {
        // charon's enr.TestNew vector for the key 01..01.
        let id = NodeIdentity::from_key(key(1)).unwrap();
        assert_eq!(
            id.enr,
            "enr:-HW4QEp-BLhP30tqTGFbR9n2PdUKWP9qc0zphIRmn8_jpm4BYkgekztXQaPA_znRW8RvNYHo0pUwyPEwUGGeZu26XlKAgmlkgnY0iXNlY3AyNTZrMaEDG4TFVnsSZECZXT7VqroFZdceGDRgSBn_nBf16dXdB48"
        );
        assert_eq!(defn::enr_public_key(&id.enr).unwrap(), id.public_key);
        assert!(!format!("{id:?}").contains(&hex::encode([1u8; 32])));
    }

    #[test]
    fn load_checks_enr_file_and_install_copies_key() {
        let d = tempfile::tempdir().unwrap();
        let kf = d.path().join("key");
        std::fs::write(&kf, format!("0x{}\n", hex::encode([1u8; 32]))).unwrap();
        let enr_file = d.path().join("enr");
        // Missing ENR file: derived ENR.
        let id = NodeIdentity::load(&kf, &enr_file).unwrap();
        std::fs::write(&enr_file, format!("{}\n", id.enr)).unwrap();
        assert_eq!(NodeIdentity::load(&kf, &enr_file).unwrap().enr, id.enr);
        // ENR of another key.
        let other = NodeIdentity::from_key(key(2)).unwrap();
        std::fs::write(&enr_file, &other.enr).unwrap();
        let err = NodeIdentity::load(&kf, &enr_file).unwrap_err().to_string();
        assert!(err.contains("ENR MISMATCH"), "{err}");
        std::fs::write(&enr_file, "  ").unwrap();
        assert!(
            NodeIdentity::load(&kf, &enr_file)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        std::fs::write(&kf, "zz").unwrap();
        assert!(NodeIdentity::load(&kf, &enr_file).is_err());

        let data = d.path().join("data");
        let target = id.install(&data).unwrap();
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            hex::encode([1u8; 32])
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        id.install(&data).unwrap();
        assert!(other.install(&data).is_err());
    }
}
