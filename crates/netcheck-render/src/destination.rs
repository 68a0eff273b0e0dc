//! Where a report file goes, and how it gets there without harming what is at the path.
//!
//! `--json PATH` is often not a plain file: `/dev/stdout` (a symlink to a pipe or a
//! terminal), a FIFO a CI step reads, `-`. An atomic rename over such a path would
//! replace the device or the link with a regular file, for every later writer on the
//! host. So only a regular file (or nothing) at the path is replaced atomically; a
//! character device or a FIFO, directly or behind a symlink, is written in place; `-`
//! is standard output. A file that is replaced keeps its owner and mode, and one that
//! belongs to another user is refused unless netcheck can give it back (root).

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use netcheck_model::error::Error;

/// The path that means standard output.
pub const STDOUT: &str = "-";

/// Whether `path` names standard output.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == STDOUT
}

/// Writes `contents` to `path` as described in the module's comment.
pub fn write(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    if is_stdout(path) {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(contents)
            .and_then(|()| out.flush())
            .map_err(err);
    }
    // The file the path leads to, through symlinks: what a write would reach.
    match std::fs::metadata(path) {
        Ok(target) => {
            let kind = target.file_type();
            if kind.is_char_device() || kind.is_fifo() {
                return write_in_place(path, contents).map_err(err);
            }
            if !kind.is_file() {
                return Err(err(refusal(what_kind(&kind))));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    // A regular file, a symlink to one (replaced, never followed: the file it named is
    // not netcheck's to overwrite), or nothing yet.
    let existing = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Some(m),
        _ => None,
    };
    write_atomic(path, contents, existing.as_ref()).map_err(err)
}

fn what_kind(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

fn refusal(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "the path is {what}: netcheck writes reports to files, character devices, FIFOs and `-` only"
        ),
    )
}

/// A device or a FIFO: opened for writing and written, never created or replaced.
fn write_in_place(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(contents)?;
    file.flush()
}

/// A temporary file beside the path, then a rename: a reader never sees half a report.
/// `existing` is the regular file being replaced: its mode is kept, and its owner.
fn write_atomic(
    path: &Path,
    contents: &[u8],
    existing: Option<&std::fs::Metadata>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let euid = nix::unistd::geteuid();
    if let Some(m) = existing
        && m.uid() != euid.as_raw()
        && !euid.is_root()
    {
        // Replacing it would hand another user's file to this one, with other
        // permissions: the owner would lose it.
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "the file belongs to another user (uid {}): netcheck does not replace it; write the report elsewhere",
                m.uid()
            ),
        ));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".netcheck-")
        .tempfile_in(dir)?;
    // Readable as a plainly created file would be (a textfile collector running as
    // another user must read the metrics), or exactly as the file it replaces was.
    let mode = match existing {
        Some(m) => m.mode() & 0o7777,
        None => 0o666 & !umask(),
    };
    if let Some(m) = existing
        && (m.uid() != euid.as_raw() || m.gid() != nix::unistd::getegid().as_raw())
    {
        std::os::unix::fs::fchown(tmp.as_file(), Some(m.uid()), Some(m.gid()))?;
    }
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The process's umask, from /proc/self/status (Linux 4.7 and newer); setting it to
/// read it back would race with other threads creating files. 022 where unknown.
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find_map(|l| l.strip_prefix("Umask:"))?;
            u32::from_str_radix(line.trim(), 8).ok()
        })
        .unwrap_or(0o022)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_behind_a_symlink_is_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let link = dir.path().join("report.json");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        write(&link, b"{}\n").unwrap();
        assert_eq!(reader.join().unwrap(), "{}\n");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn a_replaced_file_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write(&path, b"new").unwrap();
        let m = std::fs::metadata(&path).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }

    #[test]
    fn block_devices_and_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = write(dir.path(), b"x").unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
    }
}
