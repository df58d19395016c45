//! Data-directory checks charon makes before a ceremony, and the private-key
//! lock file that keeps two processes from using one ENR key at once.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::output::{KEYS_DIR, LOCK_FILE};

/// Name of the ENR private key file inside the data directory.
pub const ENR_KEY_FILE: &str = "charon-enr-private-key";
/// Name of the lock file guarding the ENR key.
pub const KEY_LOCK_FILE: &str = "charon-enr-private-key.lock";
/// A key lock younger than this means another process is running.
const KEY_LOCK_STALE: Duration = Duration::from_secs(5);

/// Why the data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The directory is missing.
    #[error("data directory {0} does not exist, cannot continue")]
    Missing(PathBuf),
    /// The path is a file.
    #[error("data directory {0} is a file, cannot continue")]
    NotADir(PathBuf),
    /// No ENR key.
    #[error(
        "missing {ENR_KEY_FILE} in data directory {0}; create one with `charon-dkg-sidecar create enr --data-dir {0}`"
    )]
    NoKey(PathBuf),
    /// Outputs of an earlier ceremony are present.
    #[error(
        "data directory not clean, cannot continue: {0} exists (remove outputs of an earlier ceremony first)"
    )]
    NotClean(PathBuf),
    /// Another process holds the key lock.
    #[error(
        "private key lock file {0} was updated {1:?} ago: another instance may be running on this machine"
    )]
    Locked(PathBuf, Duration),
    /// The directory cannot be written.
    #[error("data directory {path} is not writable: {source}")]
    NotWritable {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Checks charon's `checkClearDataDir` rules and that the directory is writable.
pub fn check_clean(dir: &Path) -> Result<(), DataDirError> {
    let meta = fs::metadata(dir).map_err(|_| DataDirError::Missing(dir.to_path_buf()))?;
    if !meta.is_dir() {
        return Err(DataDirError::NotADir(dir.to_path_buf()));
    }
    if !dir.join(ENR_KEY_FILE).is_file() {
        return Err(DataDirError::NoKey(dir.to_path_buf()));
    }
    let entries = fs::read_dir(dir).map_err(|source| DataDirError::NotWritable {
        path: dir.to_path_buf(),
        source,
    })?;
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name == KEYS_DIR || name == LOCK_FILE || name.starts_with("deposit-data") {
            return Err(DataDirError::NotClean(e.path()));
        }
    }
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    fs::write(&probe, b"probe").map_err(|source| DataDirError::NotWritable {
        path: dir.to_path_buf(),
        source,
    })?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Holds `charon-enr-private-key.lock`, refreshing it every second and deleting
/// it on drop, as charon does, so that two processes never share one ENR key.
pub struct KeyLock {
    path: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl KeyLock {
    /// Takes the lock, refusing when another process refreshed it in the last 5 s.
    pub fn acquire(dir: &Path, command: &str) -> Result<Self, DataDirError> {
        let path = dir.join(KEY_LOCK_FILE);
        if let Ok(meta) = fs::metadata(&path) {
            let age = meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .unwrap_or_default();
            if age <= KEY_LOCK_STALE {
                return Err(DataDirError::Locked(path, age));
            }
        }
        write_lock(&path, command).map_err(|source| DataDirError::NotWritable {
            path: path.clone(),
            source,
        })?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, s, c) = (path.clone(), stop.clone(), command.to_string());
        std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                if s.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let _ = write_lock(&p, &c);
            }
        });
        Ok(KeyLock { path, stop })
    }
}

/// Refreshes the lock without following a symlink at its path: a link planted
/// there must not get whatever it points to truncated and overwritten.
fn write_lock(path: &Path, command: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let body = serde_json::json!({
        "command": command,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    f.write_all(body.to_string().as_bytes())
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_rules() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            check_clean(&d.path().join("nope")),
            Err(DataDirError::Missing(_))
        ));
        assert!(matches!(check_clean(d.path()), Err(DataDirError::NoKey(_))));
        fs::write(d.path().join(ENR_KEY_FILE), "00").unwrap();
        check_clean(d.path()).unwrap();
        for bad in ["deposit-data-1eth.json", LOCK_FILE, KEYS_DIR] {
            let p = d.path().join(bad);
            fs::write(&p, "x").unwrap();
            assert!(
                matches!(check_clean(d.path()), Err(DataDirError::NotClean(_))),
                "{bad}"
            );
            fs::remove_file(&p).unwrap();
        }
        assert!(matches!(
            check_clean(&d.path().join(ENR_KEY_FILE)),
            Err(DataDirError::NotADir(_))
        ));
    }

    #[test]
    fn key_lock_excludes_a_second_holder() {
        let d = tempfile::tempdir().unwrap();
        let l = KeyLock::acquire(d.path(), "test").unwrap();
        assert!(matches!(
            KeyLock::acquire(d.path(), "test"),
            Err(DataDirError::Locked(..))
        ));
        drop(l);
        assert!(!d.path().join(KEY_LOCK_FILE).exists());
        KeyLock::acquire(d.path(), "test").unwrap();
    }

    #[test]
    fn key_lock_does_not_follow_a_planted_symlink() {
        let d = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let dangling = elsewhere.path().join("created-through-link");
        std::os::unix::fs::symlink(&dangling, d.path().join(KEY_LOCK_FILE)).unwrap();
        assert!(matches!(
            KeyLock::acquire(d.path(), "test"),
            Err(DataDirError::NotWritable { .. })
        ));
        assert!(!dangling.exists());

        let old = elsewhere.path().join("old-file");
        fs::write(&old, b"keep").unwrap();
        let f = fs::File::options().write(true).open(&old).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(60))
            .unwrap();
        fs::remove_file(d.path().join(KEY_LOCK_FILE)).unwrap();
        std::os::unix::fs::symlink(&old, d.path().join(KEY_LOCK_FILE)).unwrap();
        assert!(KeyLock::acquire(d.path(), "test").is_err());
        assert_eq!(fs::read(&old).unwrap(), b"keep");
    }
}
