//! Keystore files: encrypting many secrets at once and writing charon's
//! `validator_keys/keystore-<i>.{json,txt}`, and loading them back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::RngCore;
use zeroize::Zeroizing;

use crate::frost::bls::SecretKey;
use crate::lock::keystore::format::{
    DEFAULT_PBKDF2_C, Keystore, KeystoreError, Password, decrypt, from_json, normalize_password,
    seal, to_json,
};
use crate::lock::newfile::{remove_written, write_new_file};

/// Options for [`write_keystores_with`].
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    /// pbkdf2 iteration count.
    pub pbkdf2_c: u32,
    /// Name files `keystore-insecure-<i>` (charon `--insecure-keys`).
    pub insecure_names: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            pbkdf2_c: DEFAULT_PBKDF2_C,
            insecure_names: false,
        }
    }
}

/// Encrypts many secrets in parallel (one pbkdf2 each), each with its own
/// random password. Output order equals input order.
pub fn encrypt_many(secrets: &[SecretKey], pbkdf2_c: u32) -> Vec<(Keystore, Password)> {
    encrypt_many_with(secrets, pbkdf2_c, Password::random)
}

/// [`encrypt_many`] with passwords from `password` (e.g.
/// [`Password::random_keymanager`] for keymanager imports).
pub fn encrypt_many_with(
    secrets: &[SecretKey],
    pbkdf2_c: u32,
    password: fn() -> Password,
) -> Vec<(Keystore, Password)> {
    // Whole 16-key batches (the narrowest lane width) keep the KDF lanes full.
    crate::lock::parallel::map_chunks(secrets, 16, |_, part| {
        encrypt_batch(part, pbkdf2_c, password)
    })
    // A lost worker must not silently drop keys: re-raise its panic.
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Encrypts `secrets` on this thread, deriving all their keys together.
fn encrypt_batch(
    secrets: &[SecretKey],
    c: u32,
    password: fn() -> Password,
) -> Vec<(Keystore, Password)> {
    let passwords: Vec<Password> = secrets.iter().map(|_| password()).collect();
    let normalized: Vec<Zeroizing<String>> = passwords
        .iter()
        .map(|p| normalize_password(p.expose()))
        .collect();
    let mut salts = vec![[0u8; 32]; secrets.len()];
    let mut ivs = vec![[0u8; 16]; secrets.len()];
    for (salt, iv) in salts.iter_mut().zip(ivs.iter_mut()) {
        rand::rngs::OsRng.fill_bytes(salt);
        rand::rngs::OsRng.fill_bytes(iv);
    }
    let inputs: Vec<(&[u8], &[u8])> = normalized
        .iter()
        .zip(&salts)
        .map(|(p, s)| (p.as_bytes(), s.as_slice()))
        .collect();
    let keys = crate::lock::keystore::pbkdf2::derive_keys(&inputs, c);
    secrets
        .iter()
        .zip(keys.iter())
        .zip(salts.iter().zip(ivs.iter()))
        .zip(passwords)
        .map(|(((sk, dk), (salt, iv)), pw)| (seal(sk, dk, *salt, *iv, c), pw))
        .collect()
}

/// Writes `keystore-<i>.json` (0444) and `keystore-<i>.txt` (0400) for each
/// secret into `keys_dir` (charon's `validator_keys`), with charon defaults.
/// The directory is created if missing and must otherwise be empty.
pub fn write_keystores(
    keys_dir: &Path,
    secrets: &[SecretKey],
) -> Result<Vec<PathBuf>, KeystoreError> {
    write_keystores_with(keys_dir, secrets, WriteOptions::default())
}

/// [`write_keystores`] with explicit options. Nothing is written until every
/// keystore has been encrypted; on a write failure the files already written
/// are removed. Returns the keystore paths in index order.
pub fn write_keystores_with(
    keys_dir: &Path,
    secrets: &[SecretKey],
    opts: WriteOptions,
) -> Result<Vec<PathBuf>, KeystoreError> {
    let io = |action, path: &Path, source| KeystoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_dir(keys_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(KeystoreError::NotEmpty(keys_dir.to_path_buf()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(keys_dir).map_err(|e| io("create directory", keys_dir, e))?;
        }
        Err(e) => return Err(io("read directory", keys_dir, e)),
    }
    let encrypted = encrypt_many(secrets, opts.pbkdf2_c);
    if encrypted.len() != secrets.len() {
        return Err(KeystoreError::Invalid {
            file: "keystore".into(),
            reason: "keystore encryption thread failed".into(),
        });
    }
    let prefix = if opts.insecure_names {
        "keystore-insecure-"
    } else {
        "keystore-"
    };
    let mut written: Vec<PathBuf> = Vec::with_capacity(secrets.len() * 2);
    let mut keystores = Vec::with_capacity(secrets.len());
    for (i, (ks, pw)) in encrypted.iter().enumerate() {
        let json = keys_dir.join(format!("{prefix}{i}.json"));
        let txt = keys_dir.join(format!("{prefix}{i}.txt"));
        let res = write_file(&json, &to_json(ks), 0o444)
            .and_then(|()| {
                written.push(json.clone());
                write_file(&txt, pw.expose().as_bytes(), 0o400)
            })
            .map(|()| written.push(txt));
        if let Err(e) = res {
            remove_written(&written);
            return Err(e);
        }
        keystores.push(json);
    }
    Ok(keystores)
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeystoreError> {
    write_new_file(path, bytes, mode).map_err(|(action, source)| KeystoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    })
}

/// The index in a charon keystore file name `keystore-[insecure-]<i>.json`.
pub fn keystore_index(file_name: &str) -> Option<usize> {
    let rest = file_name.strip_prefix("keystore-")?.strip_suffix(".json")?;
    let digits = rest.strip_prefix("insecure-").unwrap_or(rest);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Loads and decrypts every `keystore-*.json` in `dir` with its `.txt`
/// password, requiring indexes exactly 0..N-1. Returns `(index, secret)`
/// sorted by index. Decryption runs in parallel.
pub fn load_keystores(dir: &Path) -> Result<Vec<(usize, SecretKey)>, KeystoreError> {
    let entries = std::fs::read_dir(dir).map_err(|source| KeystoreError::Io {
        action: "read directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut by_index: BTreeMap<usize, PathBuf> = BTreeMap::new();
    for e in entries {
        let e = e.map_err(|source| KeystoreError::Io {
            action: "read directory",
            path: dir.to_path_buf(),
            source,
        })?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("keystore-") && name.ends_with(".json")) {
            continue;
        }
        let idx = keystore_index(&name).ok_or_else(|| KeystoreError::Indexes {
            dir: dir.to_path_buf(),
            reason: format!("cannot parse a validator index from {name:?}"),
        })?;
        if let Some(prev) = by_index.insert(idx, e.path()) {
            return Err(KeystoreError::Indexes {
                dir: dir.to_path_buf(),
                reason: format!("two keystores for index {idx}: {}", prev.display()),
            });
        }
    }
    if by_index.is_empty() {
        return Err(KeystoreError::NoKeys(dir.to_path_buf()));
    }
    if let Some((pos, (idx, _))) = by_index
        .iter()
        .enumerate()
        .find(|(pos, (idx, _))| pos != *idx)
    {
        let _ = idx;
        return Err(KeystoreError::Indexes {
            dir: dir.to_path_buf(),
            reason: format!(
                "keystore index {pos} is missing; indexes must be 0..{}",
                by_index.len() - 1
            ),
        });
    }
    let files: Vec<(usize, PathBuf)> = by_index.into_iter().collect();
    let results = crate::lock::parallel::map_chunks(&files, 1, |_, part| {
        part.iter()
            .map(|(i, p)| load_one(p).map(|k| (*i, k)))
            .collect()
    })
    .map_err(|_| KeystoreError::Invalid {
        file: "keystore".into(),
        reason: "keystore decryption thread failed".into(),
    })?;
    results.into_iter().collect()
}

/// Largest keystore file read (real ones are under 1 KiB).
const MAX_KEYSTORE_BYTES: u64 = 1 << 20;
/// Largest password file read.
const MAX_PASSWORD_BYTES: u64 = 1 << 16;

/// Reads at most `cap` bytes; a larger file is an error rather than a memory hazard.
fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(cap + 1)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("file is larger than {cap} bytes"),
        ));
    }
    Ok(buf)
}

/// Loads and decrypts one keystore file using the `.txt` next to it.
pub fn load_one(json_path: &Path) -> Result<SecretKey, KeystoreError> {
    let file = json_path.display().to_string();
    let io = |action, path: &Path, source| KeystoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let bytes = read_capped(json_path, MAX_KEYSTORE_BYTES).map_err(|e| io("read", json_path, e))?;
    let ks = from_json(&bytes, &file)?;
    let pw_path = json_path.with_extension("txt");
    let pw_bytes = Zeroizing::new(
        read_capped(&pw_path, MAX_PASSWORD_BYTES)
            .map_err(|e| io("read password file", &pw_path, e))?,
    );
    let pw = std::str::from_utf8(&pw_bytes).map_err(|_| KeystoreError::Invalid {
        file: pw_path.display().to_string(),
        reason: "password file is not UTF-8".into(),
    })?;
    decrypt(&ks, &Password::new(pw), &file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_parsing() {
        assert_eq!(keystore_index("keystore-0.json"), Some(0));
        assert_eq!(keystore_index("keystore-insecure-12.json"), Some(12));
        assert_eq!(keystore_index("keystore-007.json"), Some(7));
        assert_eq!(keystore_index("keystore-.json"), None);
        assert_eq!(keystore_index("keystore-a.json"), None);
        assert_eq!(keystore_index("keystore--1.json"), None);
        assert_eq!(keystore_index("keystore-1.txt"), None);
        assert_eq!(
            keystore_index("keystore-99999999999999999999999.json"),
            None
        );
    }
}
