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
        move_into_place(&staging.dir, &tops, data_dir)
    }
}

/// Renames every top-level entry from `staging` into `data_dir`, the last one
/// (the lock) only after the data directory is synced, so a crash never leaves
/// a durable lock beside missing keys. Each rename refuses an existing target
/// itself (no check-then-rename window); before the lock is in place a failure
/// removes whatever was moved. A failed final sync is reported, but the outputs
/// stay: peers may already depend on them.
fn move_into_place(staging: &Path, tops: &[PathBuf], data_dir: &Path) -> Result<(), OutputError> {
    let mut moved: Vec<PathBuf> = Vec::new();
    let roll_back = |moved: &[PathBuf], err: OutputError| {
        for m in moved {
            remove_any(m);
        }
        err
    };
    for (i, top) in tops.iter().enumerate() {
        let from = staging.join(top);
        let to = data_dir.join(top);
        if i + 1 == tops.len()
            && !moved.is_empty()
            && let Err(e) = sync_dir(data_dir)
        {
            return Err(roll_back(&moved, e));
        }
        match rename_noreplace(&from, &to) {
            Ok(()) => moved.push(to),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(roll_back(&moved, OutputError::Exists(to)));
            }
            Err(e) => return Err(roll_back(&moved, io("rename into place", &to)(e))),
        }
    }
    sync_dir(data_dir)
}

fn sync_dir(dir: &Path) -> Result<(), OutputError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync directory", dir))
}

/// `rename` that fails with `AlreadyExists` instead of replacing a target
/// (plain `rename` silently replaces a file or an empty directory).
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            // Filesystems without RENAME_NOREPLACE: use the portable path.
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(e.into()),
        }
    }
    rename_noreplace_portable(from, to)
}

/// Without kernel support: a file is hard-linked (which refuses an existing
/// target atomically) and its staging name removed; a directory falls back to
/// check-then-rename, the best plain POSIX offers.
fn rename_noreplace_portable(from: &Path, to: &Path) -> std::io::Result<()> {
    if to.symlink_metadata().is_ok() {
        return Err(std::io::ErrorKind::AlreadyExists.into());
    }
    if from.symlink_metadata()?.is_dir() {
        fs::rename(from, to)
    } else {
        fs::hard_link(from, to)?;
        fs::remove_file(from)
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
    if is_real_dir(p) {
        let _ = fs::remove_dir_all(p);
    } else {
        let _ = fs::remove_file(p);
    }
}

/// Read-only files inside a directory do not block its removal on Unix, but a
/// read-only directory would; restore write permission first.
/// Symlinks are never followed: a link inside (or in place of) a staging
/// directory must not get its target chmod-ed.
fn make_writable(p: &Path) -> std::io::Result<()> {
    if is_real_dir(p) {
        fs::set_permissions(p, fs::Permissions::from_mode(0o700))?;
        for e in fs::read_dir(p)? {
            make_writable(&e?.path())?;
        }
    }
    Ok(())
}

/// A directory itself, not a symlink to one.
fn is_real_dir(p: &Path) -> bool {
    p.symlink_metadata().is_ok_and(|m| m.is_dir())
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
/// committing; returns how many were removed. Symlinks are left alone.
pub fn clean_stale_staging(data_dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(data_dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
            continue;
        }
        // We only ever create staging directories; anything else with the
        // name (a symlink planted to a foreign tree) is not ours to touch.
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            tracing::warn!(path = %e.path().display(), "Not removing a staging entry that is not a directory");
            continue;
        }
        remove_any(&e.path());
        n += 1;
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

    #[test]
    fn stale_staging_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = tempfile::tempdir().unwrap();
        let sub = foreign.path().join("ro");
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("f"), b"foreign").unwrap();
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o555)).unwrap();
        fs::set_permissions(foreign.path(), fs::Permissions::from_mode(0o751)).unwrap();
        let link = dir.path().join(format!("{STAGING_PREFIX}evil"));
        std::os::unix::fs::symlink(foreign.path(), &link).unwrap();
        // A real staging directory holding a symlink to the foreign tree, too.
        let st = dir.path().join(format!("{STAGING_PREFIX}real"));
        fs::create_dir(&st).unwrap();
        std::os::unix::fs::symlink(&sub, st.join("inner")).unwrap();

        assert_eq!(clean_stale_staging(dir.path()), 1);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(foreign.path()), 0o751);
        assert_eq!(mode(&sub), 0o555);
        assert_eq!(fs::read(sub.join("f")).unwrap(), b"foreign");
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert!(!st.exists());
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn move_into_place_refuses_a_target_that_appeared_after_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::create(dir.path()).unwrap();
        for f in set().files() {
            staging.write(f).unwrap();
        }
        // Created between the existence check and the rename: an empty
        // directory, which a plain rename would silently replace.
        fs::create_dir(dir.path().join(KEYS_DIR)).unwrap();
        let tops: Vec<PathBuf> = ["deposit-data.json", KEYS_DIR, LOCK_FILE]
            .iter()
            .map(PathBuf::from)
            .collect();
        let err = move_into_place(&staging.dir, &tops, dir.path()).unwrap_err();
        assert!(
            matches!(&err, OutputError::Exists(p) if p.ends_with(KEYS_DIR)),
            "{err}"
        );
        // Rolled back: the deposit file moved first is gone, no lock, and the
        // planted directory is untouched (still empty).
        assert!(!dir.path().join("deposit-data.json").exists());
        assert!(!dir.path().join(LOCK_FILE).exists());
        assert_eq!(fs::read_dir(dir.path().join(KEYS_DIR)).unwrap().count(), 0);
    }

    #[test]
    fn rename_noreplace_refuses_existing_files_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, b"new").unwrap();
        fs::write(&b, b"old").unwrap();
        let err = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&b).unwrap(), b"old");
        let l = dir.path().join("l");
        std::os::unix::fs::symlink("/nonexistent-target", &l).unwrap();
        assert_eq!(
            rename_noreplace(&a, &l).unwrap_err().kind(),
            std::io::ErrorKind::AlreadyExists
        );
        let c = dir.path().join("c");
        rename_noreplace(&a, &c).unwrap();
        assert_eq!(fs::read(&c).unwrap(), b"new");
        assert!(!a.exists());
    }
}
