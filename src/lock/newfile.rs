//! Writing an output file that must not exist yet: deposit data, keystores and
//! a new cluster's files all go through here.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A failed write: the action ("create", "write", "sync" or "link") and why.
pub(crate) type WriteError = (&'static str, std::io::Error);

/// Creates `path` (never overwriting) with `mode`, writes and syncs it.
pub(crate) fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| ("create", e))?;
    f.write_all(bytes).map_err(|e| ("write", e))?;
    f.sync_all().map_err(|e| ("sync", e))
}

/// [`write_new_file`], atomically: the data goes to a hidden temporary file
/// that is then hard-linked into place, so a reader never sees a partial file
/// and an existing file is never replaced (the "link" action then fails with
/// `AlreadyExists`). The temporary file is always removed.
pub(crate) fn write_new_file_atomic(
    path: &Path,
    bytes: &[u8],
    mode: u32,
) -> Result<(), WriteError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = write_new_file(&tmp, bytes, mode)
        .and_then(|()| std::fs::hard_link(&tmp, path).map_err(|e| ("link", e)));
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Removes the files a failed multi-file write already made, so that it
/// leaves all of its files or none. A file that cannot be removed is left;
/// the write's own error is the one reported.
pub(crate) fn remove_written(written: &[PathBuf]) {
    for p in written {
        let _ = std::fs::remove_file(p);
    }
}
