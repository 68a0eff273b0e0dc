//! Bounded input: every file netcheck reads is read through here, with a size cap for
//! its kind. A path given by a user (or named inside a file, or found in a container's
//! filesystem) can be `/dev/zero`, a FIFO nobody writes, or a file of gigabytes; read
//! plainly, each of those hangs netcheck or exhausts memory. Only regular files (and
//! `-`, standard input, where the caller allows it) are read, and never past the cap.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

const MIB: u64 = 1024 * 1024;

/// What a file is, for its cap and for the error that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A snapshot for `analyze`: the largest thing netcheck reads. A host at the
    /// engine's own answer limit (16 MiB per answer) stays well under it.
    Snapshot,
    /// A suite file or one it includes.
    Suite,
    /// A configuration or system file: resolv.conf, daemon.json, a docker context's
    /// metadata, a /proc or /sys value.
    Config,
}

impl Kind {
    pub fn cap(self) -> u64 {
        match self {
            Kind::Snapshot => 64 * MIB,
            Kind::Suite => MIB,
            Kind::Config => MIB,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Snapshot => "a snapshot",
            Kind::Suite => "a suite",
            Kind::Config => "a configuration file",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "larger than the {} MiB netcheck reads for {}: refused",
        .kind.cap() / MIB,
        .kind.name()
    )]
    TooLarge { kind: Kind },
    #[error(
        "{what}, not a regular file: netcheck reads regular files only (or `-` for standard input)"
    )]
    NotRegular { what: &'static str },
    #[error("not UTF-8 text")]
    NotText,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The text of the file at `path`, or `-` (standard input) when `stdin` allows it.
pub fn read(path: &Path, kind: Kind, stdin: bool) -> Result<String, InputError> {
    if stdin && path.as_os_str() == "-" {
        return capped(std::io::stdin().lock(), kind);
    }
    // Non-blocking, so that opening a FIFO with no writer does not hang before the
    // check below refuses it; reads of a regular file ignore the flag.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let kind_of = file.metadata()?.file_type();
    if !kind_of.is_file() {
        return Err(InputError::NotRegular {
            what: describe(&kind_of),
        });
    }
    capped(file, kind)
}

/// A file's text, or None when it is absent, unreadable, not regular or too large: for
/// the host's files, where absence is an observation and not an error.
pub fn read_config(path: impl AsRef<Path>) -> Option<String> {
    read(path.as_ref(), Kind::Config, false).ok()
}

fn capped(source: impl Read, kind: Kind) -> Result<String, InputError> {
    let mut bytes = vec![];
    source.take(kind.cap() + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > kind.cap() {
        return Err(InputError::TooLarge { kind });
    }
    String::from_utf8(bytes).map_err(|_| InputError::NotText)
}

fn describe(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_fifos_are_refused_at_once() {
        let e = read(Path::new("/dev/zero"), Kind::Snapshot, true).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read(&fifo, Kind::Suite, true).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(
            read(&link, Kind::Config, false),
            Err(InputError::NotRegular { .. })
        ));
    }

    #[test]
    fn a_file_past_its_cap_is_refused_naming_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.toml");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(Kind::Suite.cap() + 1).unwrap();
        let e = read(&big, Kind::Suite, false).unwrap_err().to_string();
        assert!(e.contains("1 MiB") && e.contains("a suite"), "{e}");
        f.set_len(10).unwrap();
        assert_eq!(read(&big, Kind::Suite, false).unwrap().len(), 10);
    }
}
