//! Staged, all-or-nothing writing of a ceremony's outputs.
//!
//! Nothing touches the data directory until every exchange has completed and the
//! lock verified. Then every file is written into a hidden staging directory on the
//! same filesystem, synced, and renamed into place with `cluster-lock.json` last, so
//! the presence of a lock always means the outputs are complete. A failure while
//! committing removes whatever was already moved.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use zeroize::Zeroizing;

/// File name of the lock, the last file moved into place.
pub const LOCK_FILE: &str = "cluster-lock.json";
/// Directory holding the EIP-2335 keystores.
pub const KEYS_DIR: &str = "validator_keys";
/// Prefix of the staging directories; leftovers of a killed process are removed on start.
pub const STAGING_PREFIX: &str = ".dkg-staging-";

/// Why writing the outputs failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file system operation failed.
    #[error("write outputs: {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An output would overwrite something already in the data directory.
    #[error("write outputs: {0} already exists in the data directory; move it away and rerun")]
    Exists(PathBuf),
    /// A relative path that leaves the data directory.
    #[error("write outputs: invalid output path {0}")]
    BadPath(PathBuf),
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> OutputError + 'a {
    move |source| OutputError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// One file to write, relative to the data directory.
pub struct OutputFile {
    /// Relative path, e.g. `validator_keys/keystore-0.json`.
    pub path: PathBuf,
    /// Content; zeroized on drop since passwords and keystores pass through here.
    pub content: Zeroizing<Vec<u8>>,
    /// Unix permission bits, e.g. `0o444`.
    pub mode: u32,
}

impl std::fmt::Debug for OutputFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputFile")
            .field("path", &self.path)
            .field("len", &self.content.len())
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}

/// The complete set of outputs of one ceremony.
#[derive(Debug, Default)]
pub struct OutputSet {
    files: Vec<OutputFile>,
}

impl OutputSet {
    /// Adds a file.
    pub fn add(&mut self, path: impl Into<PathBuf>, content: Vec<u8>, mode: u32) {
        self.files.push(OutputFile {
            path: path.into(),
            content: Zeroizing::new(content),
            mode,
        });
    }

    /// The files, in insertion order.
    pub fn files(&self) -> &[OutputFile] {
        &self.files
    }

    /// Writes everything into `data_dir` atomically: either all files end up in
    /// place, or none do. `cluster-lock.json` is moved last.
    pub fn commit(&self, data_dir: &Path) -> Result<(), OutputError> {
        let mut tops: Vec<PathBuf> = Vec::new();
        for f in &self.files {
            let top = top_component(&f.path)?;
            if !tops.contains(&top) {
                tops.push(top);
            }
        }
        for top in &tops {
            let target = data_dir.join(top);
            if target.symlink_metadata().is_ok() {
                return Err(OutputError::Exists(target));
            }
        }
        // The lock goes last: its presence marks a complete output set.
        tops.sort_by_key(|t| t.as_os_str() == LOCK_FILE);

        let staging = Staging::create(data_dir)?;
        for f in &self.files {
            staging.write(f)?;
        }
        staging.sync_all(&tops)?;

        let mut moved: Vec<PathBuf> = Vec::new();
        for top in &tops {
            let from = staging.dir.join(top);
            let to = data_dir.join(top);
            if let Err(e) = fs::rename(&from, &to) {
                for m in &moved {
                    remove_any(m);
                }
                return Err(io("rename into place", &to)(e));
            }
            moved.push(to);
        }
        if let Ok(d) = fs::File::open(data_dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn top_component(p: &Path) -> Result<PathBuf, OutputError> {
    let mut comps = p.components();
    match comps.next() {
        Some(Component::Normal(c)) if comps.all(|c| matches!(c, Component::Normal(_))) => {
            Ok(PathBuf::from(c))
        }
        _ => Err(OutputError::BadPath(p.to_path_buf())),
    }
}

fn remove_any(p: &Path) {
    let _ = make_writable(p);
    if p.is_dir() {
        let _ = fs::remove_dir_all(p);
    } else {
        let _ = fs::remove_file(p);
    }
}

/// Read-only files inside a directory do not block its removal on Unix, but a
/// read-only directory would; restore write permission first.
fn make_writable(p: &Path) -> std::io::Result<()> {
    if p.is_dir() {
        fs::set_permissions(p, fs::Permissions::from_mode(0o700))?;
        for e in fs::read_dir(p)? {
            make_writable(&e?.path())?;
        }
    }
    Ok(())
}

/// A hidden directory inside the data directory, removed on drop.
struct Staging {
    dir: PathBuf,
}

impl Staging {
    fn create(data_dir: &Path) -> Result<Self, OutputError> {
        let name = format!("{STAGING_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let dir = data_dir.join(name);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(io("create staging directory", &dir))?;
        Ok(Staging { dir })
    }

    fn write(&self, f: &OutputFile) -> Result<(), OutputError> {
        let path = self.dir.join(&f.path);
        if let Some(parent) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(io("create directory", parent))?;
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(f.mode)
            .open(&path)
            .map_err(io("create", &path))?;
        file.write_all(&f.content).map_err(io("write", &path))?;
        file.sync_all().map_err(io("sync", &path))?;
        // The umask may have dropped bits; set the exact mode.
        fs::set_permissions(&path, fs::Permissions::from_mode(f.mode))
            .map_err(io("set permissions", &path))?;
        Ok(())
    }

    fn sync_all(&self, tops: &[PathBuf]) -> Result<(), OutputError> {
        for top in tops {
            let p = self.dir.join(top);
            if p.is_dir() {
                let d = fs::File::open(&p).map_err(io("open", &p))?;
                d.sync_all().map_err(io("sync", &p))?;
            }
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        remove_any(&self.dir);
    }
}

/// Removes staging directories left behind by a process that was killed while
/// committing; returns how many were removed.
pub fn clean_stale_staging(data_dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(data_dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
            remove_any(&e.path());
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> OutputSet {
        let mut s = OutputSet::default();
        s.add(LOCK_FILE, b"{}".to_vec(), 0o444);
        s.add("validator_keys/keystore-0.json", b"k".to_vec(), 0o444);
        s.add("validator_keys/keystore-0.txt", b"p".to_vec(), 0o400);
        s.add("deposit-data.json", b"[]".to_vec(), 0o444);
        s
    }

    #[test]
    fn commit_writes_everything_with_modes_and_no_staging_left() {
        let dir = tempfile::tempdir().unwrap();
        set().commit(dir.path()).unwrap();
        let mode = |p: &str| {
            fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(LOCK_FILE), 0o444);
        assert_eq!(mode("validator_keys/keystore-0.txt"), 0o400);
        assert_eq!(
            fs::read(dir.path().join("deposit-data.json")).unwrap(),
            b"[]"
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            !names.iter().any(|n| n.starts_with(STAGING_PREFIX)),
            "{names:?}"
        );
    }

    #[test]
    fn existing_output_refuses_and_leaves_dir_untouched() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("deposit-data.json"), b"old").unwrap();
        let err = set().commit(dir.path()).unwrap_err();
        assert!(matches!(err, OutputError::Exists(_)), "{err}");
        assert!(!dir.path().join(LOCK_FILE).exists());
        assert!(!dir.path().join(KEYS_DIR).exists());
        assert_eq!(
            fs::read(dir.path().join("deposit-data.json")).unwrap(),
            b"old"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failure_midway_rolls_back_moved_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = set();
        // Two files with one path: staging fails on the second create_new.
        s.add("deposit-data.json", b"dup".to_vec(), 0o444);
        assert!(s.commit(dir.path()).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn rejects_paths_leaving_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../x", "/etc/x", "a/../../x", ""] {
            let mut s = OutputSet::default();
            s.add(bad, b"x".to_vec(), 0o444);
            assert!(
                matches!(s.commit(dir.path()), Err(OutputError::BadPath(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn stale_staging_is_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let st = dir.path().join(format!("{STAGING_PREFIX}abc"));
        fs::create_dir_all(st.join("validator_keys")).unwrap();
        fs::write(st.join("validator_keys/keystore-0.txt"), b"p").unwrap();
        fs::set_permissions(st.join("validator_keys"), fs::Permissions::from_mode(0o500)).unwrap();
        assert_eq!(clean_stale_staging(dir.path()), 1);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
