//! `--zipped`: charon's archive of a finished data directory. Every regular
//! file under the directory goes into a gzipped tar with paths relative to it,
//! then the originals (ENR private key included) are removed, as
//! `charon dkg --zipped` does.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why the archive could not be made. The originals are only removed after
/// the archive is complete and on disk, so an error never loses a file.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file-system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BundleError {
    let path = path.to_path_buf();
    move |source| BundleError::Io {
        action,
        path,
        source,
    }
}

/// Regular files and directories below `dir` (symlinks are neither followed
/// nor touched), files sorted so archives are reproducible.
fn walk(dir: &Path, files: &mut Vec<PathBuf>, dirs: &mut Vec<PathBuf>) -> Result<(), BundleError> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io("read directory", dir))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io("read directory", dir))?;
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path).map_err(io("inspect", &path))?;
        if meta.is_dir() {
            walk(&path, files, dirs)?;
            dirs.push(path);
        } else if meta.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// Archives `dir` into `dir/<name>` (mode 0600: it holds the ENR key and the
/// key shares) and removes what it archived. Files named in `skip` (relative to
/// `dir`, e.g. a lock file still held by this process) are left alone.
pub fn bundle_output(dir: &Path, name: &str, skip: &[&str]) -> Result<PathBuf, BundleError> {
    let archive = dir.join(name);
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    walk(dir, &mut files, &mut dirs)?;
    files.retain(|f| {
        f != &archive
            && !skip
                .iter()
                .any(|s| f.strip_prefix(dir).is_ok_and(|r| r == Path::new(s)))
    });
    let out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&archive)
        .map_err(io("create", &archive))?;
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let written = (|| {
        for f in &files {
            let rel = f.strip_prefix(dir).unwrap_or(f);
            let mut file = fs::File::open(f).map_err(io("open", f))?;
            tar.append_file(rel, &mut file).map_err(io("archive", f))?;
        }
        let gz = tar.into_inner().map_err(io("finish tar", &archive))?;
        let mut out = gz.finish().map_err(io("finish gzip", &archive))?;
        out.flush().map_err(io("write", &archive))?;
        out.sync_all().map_err(io("sync", &archive))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync", dir))
    })();
    if let Err(e) = written {
        // Nothing was removed yet; drop the incomplete archive.
        let _ = fs::remove_file(&archive);
        return Err(e);
    }
    for f in &files {
        fs::remove_file(f).map_err(io("remove", f))?;
    }
    // Deepest first; a directory still holding a skipped file or a symlink stays.
    for d in &dirs {
        let _ = fs::remove_dir(d);
    }
    Ok(archive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn archives_every_file_and_removes_them_but_not_what_it_skips_or_links_to() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        fs::create_dir_all(dir.join("validator_keys")).unwrap();
        fs::write(dir.join("cluster-lock.json"), b"{lock}").unwrap();
        fs::write(dir.join("charon-enr-private-key"), b"secret").unwrap();
        fs::write(dir.join("charon-enr-private-key.lock"), b"held").unwrap();
        fs::write(dir.join("validator_keys/keystore-0.json"), b"{ks}").unwrap();
        fs::write(dir.join("validator_keys/keystore-0.txt"), b"pw").unwrap();
        let outside = root.path().join("outside.txt");
        fs::write(&outside, b"not ours").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();

        let archive = bundle_output(&dir, "dkg.tar.gz", &["charon-enr-private-key.lock"]).unwrap();
        assert_eq!(archive, dir.join("dkg.tar.gz"));
        assert_eq!(
            fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["charon-enr-private-key.lock", "dkg.tar.gz", "link"]);
        assert_eq!(fs::read(&outside).unwrap(), b"not ours");

        let mut entries = Vec::new();
        let gz = flate2::read::GzDecoder::new(fs::File::open(&archive).unwrap());
        for e in tar::Archive::new(gz).entries().unwrap() {
            let mut e = e.unwrap();
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            entries.push((e.path().unwrap().display().to_string(), body));
        }
        let want: Vec<(String, Vec<u8>)> = [
            ("charon-enr-private-key", &b"secret"[..]),
            ("cluster-lock.json", b"{lock}"),
            ("validator_keys/keystore-0.json", b"{ks}"),
            ("validator_keys/keystore-0.txt", b"pw"),
        ]
        .iter()
        .map(|(p, b)| (p.to_string(), b.to_vec()))
        .collect();
        assert_eq!(entries, want);
    }

    #[test]
    fn an_existing_archive_is_never_overwritten_and_nothing_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cluster-lock.json"), b"x").unwrap();
        fs::write(dir.path().join("dkg.tar.gz"), b"older").unwrap();
        assert!(bundle_output(dir.path(), "dkg.tar.gz", &[]).is_err());
        assert_eq!(fs::read(dir.path().join("dkg.tar.gz")).unwrap(), b"older");
        assert!(dir.path().join("cluster-lock.json").exists());
    }
}
