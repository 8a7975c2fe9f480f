//! Writing output files so that a failure never leaves a truncated file behind, and checking
//! an output path before long work starts.
//!
//! [`write_atomic`] writes to a temporary file in the destination's own directory (so the
//! final step is a rename within one file system), flushes it to disk (`fsync`), then
//! renames it over the destination, which readers see change from the old content to the new
//! in one step. If any step fails (disk full, a file-size limit, a signal-free I/O error) the
//! temporary file is removed and the destination is left as it was. The rename is made
//! durable by an `fsync` of the directory where the platform allows it.
//!
//! [`check_writable`] is what the CLI calls before a run of minutes or hours whose result
//! goes to a file: the directory must exist and accept a new file, and the path must not be
//! a directory, so the run is not thrown away at the end for a typo in `--out`.
//!
//! Every file byzagg writes (the `.npy` aggregate, `bench --json/--plot`, `train --out/--plot`)
//! goes through here.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically: all of them or, on failure, the old file untouched.
///
/// # Examples
///
/// ```
/// use byzagg::output::write_atomic;
///
/// let path = std::env::temp_dir().join(format!("byzagg-doc-atomic-{}.txt", std::process::id()));
/// write_atomic(&path, b"first")?;
/// write_atomic(&path, b"second")?;
/// assert_eq!(std::fs::read(&path)?, b"second");
/// // A missing directory is an error naming the path, not a panic.
/// assert!(write_atomic(path.join("no/such/dir/x"), b"").is_err());
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Like [`write_atomic`], with the content written by `fill` into the temporary file.
pub fn write_atomic_with(
    path: impl AsRef<Path>,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    let path = path.as_ref();
    if path.is_dir() {
        return Err(io_error(path, "is a directory, not a file"));
    }
    let (temp, mut file) = create_temp(path)?;
    let written = fill(&mut file)
        .and_then(|()| file.flush())
        .and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error(path, format!("cannot write: {e}")));
    }
    sync_dir(&directory(path));
    Ok(())
}

/// Checks, before long work, that `path` can be written later: its directory exists and
/// accepts a new file, and `path` itself is not a directory. Nothing is left behind.
///
/// # Examples
///
/// ```
/// use byzagg::output::check_writable;
///
/// let dir = std::env::temp_dir();
/// check_writable(dir.join("byzagg-doc-result.csv"))?;
/// let err = check_writable(dir.join("byzagg-no-such-dir/result.csv")).unwrap_err();
/// assert!(err.to_string().contains("does not exist"), "{err}");
/// assert!(check_writable(&dir).is_err()); // a directory is not an output file
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn check_writable(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    if path.as_os_str().is_empty() {
        return Err(io_error(path, "an output path is empty"));
    }
    if path.is_dir() {
        return Err(io_error(path, "is a directory, not a file"));
    }
    let dir = directory(path);
    if !dir.is_dir() {
        return Err(io_error(
            path,
            format!("the directory {} does not exist", dir.display()),
        ));
    }
    let (temp, file) = create_temp(path)?;
    drop(file);
    let _ = std::fs::remove_file(temp);
    Ok(())
}

/// The directory a file path lives in (`.` for a bare file name).
fn directory(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A new file beside `path`, named `.NAME.byzagg-PID-K.tmp`: hidden, unique in this process,
/// and created with `create_new` so that nothing existing is ever opened.
fn create_temp(path: &Path) -> Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io_error(path, "names no file"))?
        .to_string_lossy();
    let dir = directory(path);
    loop {
        let k = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.byzagg-{}-{k}.tmp", std::process::id()));
        match File::options().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(io_error(
                    path,
                    format!("the directory {} does not exist", dir.display()),
                ));
            }
            Err(e) => {
                return Err(io_error(
                    path,
                    format!("cannot create a file in {}: {e}", dir.display()),
                ));
            }
        }
    }
}

/// Flushes a directory entry change (the rename) to disk; best effort, since some platforms
/// and file systems cannot open or sync a directory, and the data itself is already synced.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn io_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("byzagg-output-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Files in `dir` other than `keep`: leftovers of a write.
    fn leftovers(dir: &Path, keep: &str) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != keep)
            .collect()
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_nothing() {
        let dir = temp_dir("failed");
        let path = dir.join("result.npy");
        write_atomic(&path, b"good old content").unwrap();
        let err = write_atomic_with(&path, |f| {
            f.write_all(b"half of the new")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert!(err.to_string().contains("result.npy"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"good old content");
        assert!(leftovers(&dir, "result.npy").is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn writes_replace_and_relative_names_work() {
        let dir = temp_dir("replace");
        let path = dir.join("a.json");
        write_atomic(&path, b"1").unwrap();
        write_atomic(&path, b"22").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"22");
        assert!(leftovers(&dir, "a.json").is_empty());
        assert_eq!(directory(Path::new("x.npy")), PathBuf::from("."));
        assert_eq!(directory(Path::new("d/x.npy")), PathBuf::from("d"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn check_writable_refuses_what_would_fail_later() {
        let dir = temp_dir("check");
        check_writable(dir.join("out.csv")).unwrap();
        assert!(leftovers(&dir, "").is_empty());
        let missing = check_writable(dir.join("missing/out.csv")).unwrap_err();
        assert!(missing.to_string().contains("does not exist"), "{missing}");
        let is_dir = check_writable(&dir).unwrap_err();
        assert!(is_dir.to_string().contains("directory"), "{is_dir}");
        assert!(check_writable("").is_err());
        assert!(write_atomic(&dir, b"x").is_err());
        // A file where the directory should be.
        let file = dir.join("plain");
        std::fs::write(&file, b"").unwrap();
        assert!(check_writable(file.join("out.csv")).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
