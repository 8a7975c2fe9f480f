//! Writing output files so that a failure never leaves a truncated file behind, and checking
//! an output path before long work starts.
//!
//! What a write does depends on what the path names ([`destination`]):
//!
//! - a regular file, or nothing yet: [`write_atomic`] writes a temporary file in the
//!   destination's own directory (so the final step is a rename within one file system),
//!   flushes it to disk (`fsync`), then renames it over the destination, which readers see
//!   change from the old content to the new in one step. If any step fails (disk full, a
//!   file-size limit, an I/O error) the temporary file is removed and the destination is left
//!   as it was. The rename is made durable by an `fsync` of the directory where the platform
//!   allows it;
//! - a symbolic link: followed (through chains of links, dangling or not) to the file it names,
//!   which is then written as above in *its* directory; the link itself stays a link;
//! - a FIFO or a character device (`/dev/stdout`, a pipe a reader waits on, a terminal): written
//!   through, opened without creating or truncating, since a rename would replace the node
//!   itself (as root, `-o /dev/null` would have replaced the machine's `/dev/null` with a file);
//! - `-`: standard output;
//! - a directory, a socket or a block device: an error naming the path; nothing is written
//!   and nothing is replaced.
//!
//! [`check_writable`] is what the CLI calls before a run of minutes or hours whose result
//! goes to a file: the same destination must be writable later (the directory must exist and
//! accept a new file), so the run is not thrown away at the end for a typo in `--out`.
//!
//! Every file byzagg writes (the `.npy` aggregate, `bench --json/--plot`, `train --out/--plot`)
//! goes through here.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// How many symbolic links a path may pass through before it is refused (Linux's own limit).
const MAX_LINKS: usize = 40;

/// Where a write to a path goes, after links are followed (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Standard output (the path `-`).
    Stdout,
    /// A regular file, existing or not: replaced atomically. The path is the file's own, after
    /// any symbolic links.
    File(PathBuf),
    /// A FIFO or a character device: written through, never replaced. The path is the node's
    /// own, after any symbolic links.
    Stream(PathBuf),
}

/// What writing to `path` would do, or an error naming `path` where nothing may be written
/// there (a directory, a socket, a block device, a loop of links, an empty path).
///
/// # Examples
///
/// ```
/// use byzagg::output::{Destination, destination};
///
/// assert_eq!(destination("-")?, Destination::Stdout);
/// let new = std::env::temp_dir().join("byzagg-doc-destination.npy");
/// assert_eq!(destination(&new)?, Destination::File(new.clone()));
/// assert!(destination(std::env::temp_dir()).is_err()); // a directory
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn destination(path: impl AsRef<Path>) -> Result<Destination> {
    let path = path.as_ref();
    if path.as_os_str().is_empty() {
        return Err(io_error(path, "an output path is empty"));
    }
    if path.as_os_str() == "-" {
        return Ok(Destination::Stdout);
    }
    let target = follow_links(path)?;
    let meta = match std::fs::metadata(&target) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Destination::File(target)),
        Err(e) => {
            return Err(io_error(
                path,
                format!("cannot inspect {}: {e}", target.display()),
            ));
        }
    };
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(Destination::File(target));
    }
    if kind.is_dir() {
        return Err(io_error(path, "is a directory, not a file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() || kind.is_char_device() {
            return Ok(Destination::Stream(target));
        }
        if kind.is_socket() {
            return Err(io_error(
                path,
                "is a socket: byzagg writes files, FIFOs and character devices",
            ));
        }
        if kind.is_block_device() {
            return Err(io_error(
                path,
                "is a block device: byzagg writes files, FIFOs and character devices, never onto a disk",
            ));
        }
    }
    Err(io_error(path, "is neither a file, a FIFO nor a character device"))
}

/// `path` with every symbolic link along its last component followed (a relative target is
/// relative to the link's directory); the file at the end need not exist.
fn follow_links(path: &Path) -> Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&p)
                    .map_err(|e| io_error(path, format!("cannot read the link {}: {e}", p.display())))?;
                p = match target.is_absolute() {
                    true => target,
                    false => directory(&p).join(target),
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io_error(
        path,
        format!("passes through more than {MAX_LINKS} symbolic links"),
    ))
}

/// Writes `bytes` to `path` atomically: all of them or, on failure, the old file untouched.
/// A link is followed, a FIFO or a character device written through, `-` is standard output
/// (see the module docs).
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
    write_atomic_with(path, |out| out.write_all(bytes))
}

/// Like [`write_atomic`], with the content written by `fill`: into the temporary file for a
/// regular file, straight into the stream for a FIFO, a character device or standard output.
pub fn write_atomic_with(
    path: impl AsRef<Path>,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let path = path.as_ref();
    match destination(path)? {
        Destination::Stdout => {
            let mut out = std::io::stdout().lock();
            fill(&mut out)
                .and_then(|()| out.flush())
                .map_err(|e| io_error(path, format!("cannot write to standard output: {e}")))
        }
        Destination::Stream(node) => {
            // No create, no truncate: the node is opened as it is (a FIFO waits for its reader).
            let mut file = File::options()
                .write(true)
                .open(&node)
                .map_err(|e| io_error(path, format!("cannot open {}: {e}", node.display())))?;
            fill(&mut file)
                .and_then(|()| file.flush())
                .map_err(|e| io_error(path, format!("cannot write: {e}")))
        }
        Destination::File(file_path) => replace_file(path, &file_path, fill),
    }
}

/// The atomic replacement of the regular file `file_path` (`path` after its links), errors
/// naming `path` as the user gave it.
fn replace_file(
    path: &Path,
    file_path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let (temp, mut file) = create_temp(path, file_path)?;
    let written = fill(&mut file)
        .and_then(|()| file.flush())
        .and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, file_path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error(path, format!("cannot write: {e}")));
    }
    sync_dir(&directory(file_path));
    Ok(())
}

/// Checks, before long work, that `path` can be written later: standard output, a FIFO or a
/// character device as they are; for a file (after links), its directory exists and accepts
/// a new file. Nothing is left behind, and a FIFO is not opened (that would wait for a reader).
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
/// check_writable("-")?; // standard output
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn check_writable(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let file_path = match destination(path)? {
        Destination::Stdout | Destination::Stream(_) => return Ok(()),
        Destination::File(f) => f,
    };
    let dir = directory(&file_path);
    if !dir.is_dir() {
        return Err(io_error(
            path,
            format!("the directory {} does not exist", dir.display()),
        ));
    }
    let (temp, file) = create_temp(path, &file_path)?;
    drop(file);
    let _ = std::fs::remove_file(temp);
    Ok(())
}

/// Whether `path` means standard output (`-`): the CLI then sends its own text to stderr.
pub fn is_stdout(path: impl AsRef<Path>) -> bool {
    path.as_ref().as_os_str() == "-"
}

/// The directory a file path lives in (`.` for a bare file name).
fn directory(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A new file beside `file_path`, named `.NAME.byzagg-PID-K.tmp`: hidden, unique in this
/// process, and created with `create_new` so that nothing existing is ever opened. Errors name
/// `path`, the output as the user gave it.
fn create_temp(path: &Path, file_path: &Path) -> Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = file_path
        .file_name()
        .ok_or_else(|| io_error(path, "names no file"))?
        .to_string_lossy();
    let dir = directory(file_path);
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

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_followed_and_its_target_replaced_in_place() {
        let dir = temp_dir("symlink");
        let sub = dir.join("real");
        std::fs::create_dir_all(&sub).unwrap();
        let target = sub.join("result.npy");
        std::fs::write(&target, b"old").unwrap();
        let link = dir.join("link.npy");
        std::os::unix::fs::symlink("real/result.npy", &link).unwrap();
        check_writable(&link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        // The temporary file was made and renamed in the target's directory.
        assert!(leftovers(&sub, "result.npy").is_empty());
        assert!(leftovers(&dir, "link.npy").iter().all(|n| n == "real"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_gets_its_target_created() {
        let dir = temp_dir("dangling");
        let link = dir.join("out.json");
        let target = dir.join("made-later.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        check_writable(&link).unwrap();
        write_atomic(&link, b"{}").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"{}");
        // A link to a missing directory is refused before any work, naming the link.
        let lost = dir.join("lost.json");
        std::os::unix::fs::symlink(dir.join("no-such-dir/x.json"), &lost).unwrap();
        let err = check_writable(&lost).unwrap_err().to_string();
        assert!(
            err.contains("lost.json") && err.contains("does not exist"),
            "{err}"
        );
        // A loop of links is an error, not a hang.
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        let err = write_atomic(&a, b"x").unwrap_err().to_string();
        assert!(err.contains("symbolic links"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Whether a file of `path`'s kind (not following links) is a FIFO / character device.
    #[cfg(unix)]
    fn kind(path: &Path) -> (bool, bool) {
        use std::os::unix::fs::FileTypeExt;
        let t = std::fs::symlink_metadata(path).unwrap().file_type();
        (t.is_fifo(), t.is_char_device())
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_written_through_to_its_reader_and_stays_a_fifo() {
        let dir = temp_dir("fifo");
        let fifo = dir.join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            crate::verify::require_or_skip("mkfifo", "no mkfifo command here");
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send(std::fs::read(&reader).map_err(|e| e.to_string()));
        });
        check_writable(&fifo).unwrap();
        write_atomic(&fifo, b"through the pipe").unwrap();
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the reader got the write");
        assert_eq!(got.unwrap(), b"through the pipe");
        assert_eq!(kind(&fifo), (true, false), "the FIFO was replaced");
        assert!(leftovers(&dir, "pipe").is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn a_private_character_device_is_written_through_never_replaced() {
        // mknod needs root; the nodes are this test's own, never the system's /dev ones.
        let dir = temp_dir("chardev");
        let (null, full) = (dir.join("null"), dir.join("full"));
        let mknod = |path: &Path, minor: &str| {
            std::process::Command::new("mknod")
                .arg(path)
                .args(["c", "1", minor])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !(mknod(&null, "3") && mknod(&full, "7")) {
            crate::verify::require_or_skip("mknod", "mknod failed here (it needs root and CAP_MKNOD)");
            std::fs::remove_dir_all(&dir).ok();
            return;
        }
        check_writable(&null).unwrap();
        write_atomic(&null, b"discarded").unwrap();
        assert_eq!(kind(&null), (false, true), "the null device was replaced");
        // A device that refuses the write (like /dev/full): a clean error naming the path.
        let err = write_atomic(&full, &[0u8; 4096]).unwrap_err().to_string();
        assert!(err.contains("full") && err.contains("cannot write"), "{err}");
        assert_eq!(kind(&full), (false, true), "the full device was replaced");
        // Through a link too.
        let link = dir.join("link");
        std::os::unix::fs::symlink(&null, &link).unwrap();
        write_atomic(&link, b"discarded").unwrap();
        assert_eq!(kind(&null), (false, true));
        let mut names = leftovers(&dir, "");
        names.sort();
        assert_eq!(names, ["full", "link", "null"]);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn sockets_and_directories_are_refused_and_kept() {
        use std::os::unix::fs::FileTypeExt;
        let dir = temp_dir("socket");
        let socket = dir.join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let err = check_writable(&socket).unwrap_err().to_string();
        assert!(err.contains("sock") && err.contains("socket"), "{err}");
        assert!(write_atomic(&socket, b"x").is_err());
        assert!(
            std::fs::symlink_metadata(&socket)
                .unwrap()
                .file_type()
                .is_socket()
        );
        let link = dir.join("to-dir");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(
            write_atomic(&link, b"x")
                .unwrap_err()
                .to_string()
                .contains("directory")
        );
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_dash_is_standard_output() {
        assert_eq!(destination("-").unwrap(), Destination::Stdout);
        assert!(is_stdout("-") && !is_stdout("./-"));
        check_writable("-").unwrap();
        // `./-` is a file named `-`.
        assert!(matches!(destination("./-").unwrap(), Destination::File(_)));
    }
}
