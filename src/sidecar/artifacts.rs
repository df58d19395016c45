//! Files in the charon data directory: what a DKG attempt leaves behind, removing
//! it after a failure, setting aside stale outputs of an earlier crashed run, and
//! atomic writes with restrictive modes.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The lock file charon's `run` loads.
pub const LOCK_FILE: &str = "cluster-lock.json";
/// The node key file charon's `dkg` loads from the data directory.
pub const ENR_KEY_FILE: &str = "charon-enr-private-key";
/// The lock file of charon's private-key lock service.
pub const ENR_KEY_LOCK_FILE: &str = "charon-enr-private-key.lock";
/// Directory of the EIP-2335 keystores.
pub const VALIDATOR_KEYS_DIR: &str = "validator_keys";

/// The lock path in `data_dir`.
pub fn lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join(LOCK_FILE)
}

/// Names in a directory at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot(BTreeSet<OsString>);

/// Lists the top-level names of `dir` (empty if it does not exist).
pub fn snapshot(dir: &Path) -> io::Result<Snapshot> {
    let mut names = BTreeSet::new();
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                names.insert(e?.file_name());
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(Snapshot(names))
}

/// Whether a name is a DKG output charon refuses to overwrite.
pub fn is_dkg_output(name: &str) -> bool {
    name == LOCK_FILE
        || name == VALIDATOR_KEYS_DIR
        || (name.starts_with("deposit-data") && name.ends_with(".json"))
}

/// Removes every entry of `dir` that is not in `before`, except the node key and
/// its lock file; returns what was removed. Used after a failed DKG attempt.
pub fn remove_new_entries(dir: &Path, before: &Snapshot) -> io::Result<Vec<PathBuf>> {
    let now = snapshot(dir)?;
    let mut removed = Vec::new();
    for name in now.0.difference(&before.0) {
        if name == ENR_KEY_FILE || name == ENR_KEY_LOCK_FILE {
            continue;
        }
        let p = dir.join(name);
        remove_path(&p)?;
        removed.push(p);
    }
    Ok(removed)
}

/// Removes a file, symlink or directory tree; a missing path is fine.
pub fn remove_path(p: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    }
}

/// DKG outputs present in `dir` (used when no lock exists, i.e. left by a crash).
pub fn stale_outputs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    Ok(snapshot(dir)?
        .0
        .into_iter()
        .filter(|n| n.to_str().is_some_and(is_dkg_output))
        .map(|n| dir.join(n))
        .collect())
}

/// Moves `entries` of `dir` into a new `stale-dkg-artifacts-<timestamp>`
/// directory inside it, so a crashed run's key shares are kept for recovery
/// but no longer block a new ceremony. Returns the new directory.
pub fn quarantine(dir: &Path, entries: &[PathBuf]) -> io::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let target = dir.join(format!("stale-dkg-artifacts-{stamp}"));
    create_private_dir(&target)?;
    for e in entries {
        if let Some(name) = e.file_name() {
            std::fs::rename(e, target.join(name))?;
        }
    }
    Ok(target)
}

/// Creates a directory (and parents) readable only by the owner.
pub fn create_private_dir(p: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(p)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a
/// rename, so readers never see a half-written file; `mode` applies on Unix.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    // A random name created with O_EXCL|O_NOFOLLOW: nothing planted in the
    // directory (a symlink at a guessable name) can redirect the write.
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let tmp = dir.join(tmp_name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    // Only a file this call created is ever removed.
    let mut f = opts.open(&tmp)?;
    let result = (|| {
        f.write_all(bytes)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        f.sync_all()?;
        // rename replaces a symlink at `path` itself, never its target.
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Moves an unusable file the sidecar did not create to
/// `<name>.unusable-<time>` beside it, so nothing an operator put there is lost.
pub fn set_aside(file: &Path) -> std::io::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let mut name = file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".unusable-{stamp}"));
    let target = file.with_file_name(name);
    std::fs::rename(file, &target)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_new_entries_and_keeps_the_key() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(ENR_KEY_FILE), "k").unwrap();
        std::fs::write(d.path().join("keep.txt"), "x").unwrap();
        let before = snapshot(d.path()).unwrap();
        std::fs::create_dir_all(d.path().join("validator_keys/sub")).unwrap();
        std::fs::write(d.path().join("validator_keys/keystore-0.json"), "{}").unwrap();
        std::fs::write(d.path().join(LOCK_FILE), "{}").unwrap();
        std::fs::write(d.path().join("deposit-data-1eth.json"), "[]").unwrap();
        std::fs::write(d.path().join(ENR_KEY_LOCK_FILE), "l").unwrap();
        let removed = remove_new_entries(d.path(), &before).unwrap();
        assert_eq!(removed.len(), 3);
        let mut left: Vec<_> = snapshot(d.path()).unwrap().0.into_iter().collect();
        left.sort();
        assert_eq!(
            left,
            vec![
                OsString::from(ENR_KEY_FILE),
                ENR_KEY_LOCK_FILE.into(),
                "keep.txt".into()
            ]
        );
    }

    #[test]
    fn quarantines_stale_outputs() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(VALIDATOR_KEYS_DIR)).unwrap();
        std::fs::write(d.path().join("deposit-data.json"), "[]").unwrap();
        std::fs::write(d.path().join("cluster-definition.json"), "{}").unwrap();
        let stale = stale_outputs(d.path()).unwrap();
        assert_eq!(stale.len(), 2);
        let q = quarantine(d.path(), &stale).unwrap();
        assert!(q.join(VALIDATOR_KEYS_DIR).is_dir());
        assert!(q.join("deposit-data.json").is_file());
        assert!(stale_outputs(d.path()).unwrap().is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_sets_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/secret");
        write_atomic(&p, b"abc", 0o600).unwrap();
        write_atomic(&p, b"abcd", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"abcd");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_follows_no_planted_symlink() {
        let d = tempfile::tempdir().unwrap();
        let victim_dir = tempfile::tempdir().unwrap();
        let victim = victim_dir.path().join("victim");
        std::fs::write(&victim, b"untouched").unwrap();
        let p = d.path().join(ENR_KEY_FILE);
        // The temporary name earlier versions used, and a link at the target.
        let old_tmp = d
            .path()
            .join(format!(".{ENR_KEY_FILE}.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &old_tmp).unwrap();
        let other = victim_dir.path().join("other");
        std::os::unix::fs::symlink(&other, &p).unwrap();
        write_atomic(&p, b"secret", 0o600).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
        assert!(!other.exists(), "wrote through the symlink at the target");
        assert!(
            !std::fs::symlink_metadata(&p)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
        assert!(old_tmp.symlink_metadata().is_ok());
    }
}
