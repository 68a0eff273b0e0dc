//! The linker's build ID of an ELF file: the `NT_GNU_BUILD_ID` note, a hash of the
//! linked output that GNU ld and lld write. Read from the program headers, so only a few
//! KB of the file are touched.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// `PT_NOTE`, the program header of a note segment.
const PT_NOTE: u32 = 4;
/// `NT_GNU_BUILD_ID`, under the owner name `GNU`.
const NT_GNU_BUILD_ID: u32 = 3;
/// More than any real note segment holds; a larger one is not read.
const MAX_NOTES: u64 = 64 * 1024;

/// The build ID of the 64-bit little-endian ELF file at `path`; None for anything else,
/// or where there is none.
pub fn of_file(path: &Path) -> Option<Vec<u8>> {
    let file = File::open(path).ok()?;
    let mut header = [0u8; 64];
    file.read_exact_at(&mut header, 0).ok()?;
    // ELFCLASS64, ELFDATA2LSB.
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return None;
    }
    let phoff = u64_at(&header, 0x20)?;
    let phentsize = usize::from(u16_at(&header, 0x36)?);
    let phnum = usize::from(u16_at(&header, 0x38)?);
    if phentsize < 56 || phnum > 512 {
        return None;
    }
    let mut headers = vec![0u8; phentsize * phnum];
    file.read_exact_at(&mut headers, phoff).ok()?;
    headers.chunks_exact(phentsize).find_map(|ph| {
        if u32_at(ph, 0)? != PT_NOTE {
            return None;
        }
        let (offset, size) = (u64_at(ph, 8)?, u64_at(ph, 32)?);
        if size > MAX_NOTES {
            return None;
        }
        let mut notes = vec![0u8; usize::try_from(size).ok()?];
        file.read_exact_at(&mut notes, offset).ok()?;
        find_build_id(&notes)
    })
}

/// The build ID among the notes of one segment: each a header (name size, descriptor
/// size, type), the name and the descriptor, both padded to 4 bytes.
fn find_build_id(mut notes: &[u8]) -> Option<Vec<u8>> {
    let pad = |n: usize| n.checked_add(3).map(|n| n & !3);
    while notes.len() >= 12 {
        let namesz = usize::try_from(u32_at(notes, 0)?).ok()?;
        let descsz = usize::try_from(u32_at(notes, 4)?).ok()?;
        let kind = u32_at(notes, 8)?;
        let name_end = 12usize.checked_add(namesz)?;
        let desc_start = 12usize.checked_add(pad(namesz)?)?;
        let desc_end = desc_start.checked_add(descsz)?;
        let next = desc_start.checked_add(pad(descsz)?)?;
        if desc_end > notes.len() {
            return None;
        }
        if kind == NT_GNU_BUILD_ID && &notes[12..name_end] == b"GNU\0" && descsz > 0 {
            return Some(notes[desc_start..desc_end].to_vec());
        }
        notes = notes.get(next..)?;
    }
    None
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut n = vec![];
        n.extend((name.len() as u32).to_le_bytes());
        n.extend((desc.len() as u32).to_le_bytes());
        n.extend(kind.to_le_bytes());
        n.extend(name);
        n.resize(n.len().next_multiple_of(4), 0);
        n.extend(desc);
        n.resize(n.len().next_multiple_of(4), 0);
        n
    }

    #[test]
    fn the_build_id_is_found_among_other_notes() {
        let mut notes = note(b"GNU\0", 1, &[0, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0]);
        notes.extend(note(b"Go\0", NT_GNU_BUILD_ID, b"not this one"));
        notes.extend(note(b"GNU\0", NT_GNU_BUILD_ID, &[0xab; 20]));
        assert_eq!(find_build_id(&notes), Some(vec![0xab; 20]));
    }

    #[test]
    fn truncated_or_lying_notes_are_no_build_id() {
        let whole = note(b"GNU\0", NT_GNU_BUILD_ID, &[1; 20]);
        for cut in 0..whole.len() - 1 {
            assert_eq!(find_build_id(&whole[..cut]), None, "cut at {cut}");
        }
        let mut lying = whole.clone();
        lying[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(find_build_id(&lying), None);
    }

    /// The running test binary has one (this toolchain's linker writes it), and it is
    /// what binutils reads, where readelf is installed.
    #[test]
    fn this_binary_has_the_build_id_readelf_sees() {
        let exe = std::env::current_exe().unwrap();
        let id = of_file(&exe).expect("the test binary has a build ID");
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let Ok(out) = std::process::Command::new("readelf")
            .arg("-n")
            .arg(&exe)
            .output()
        else {
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("Build ID: {hex}")),
            "{hex} not in\n{text}"
        );
    }

    #[test]
    fn a_file_that_is_not_elf_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"#!/bin/sh\necho not elf\n").unwrap();
        assert_eq!(of_file(&f), None);
    }
}
