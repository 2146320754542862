//! Just enough ELF to tell a static executable from a dynamic one.
//!
//! Debian ships two packages that both install `/bin/busybox`: `busybox` (dynamically linked
//! against glibc) and `busybox-static`. Only the static one runs in a root filesystem that holds
//! nothing but busybox, and the failure mode of the other is a baffling "no such file or
//! directory" from execve inside the container, so we check up front.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

const PT_INTERP: u32 = 3;
/// Program headers beyond this count are not looked at; real binaries have about a dozen.
const MAX_PROGRAM_HEADERS: usize = 256;

/// What the ELF header says about how the file is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Linking {
    /// No program interpreter: the kernel runs it without a dynamic loader.
    Static,
    /// A `PT_INTERP` header names a dynamic loader that must exist in the root filesystem.
    Dynamic,
    /// Not an ELF file (a script, a truncated file, ...).
    NotElf,
}

/// Reads the ELF header and program headers of `path`.
pub(crate) fn linking(path: &Path) -> io::Result<Linking> {
    let mut file = File::open(path)?;
    let mut ident = [0u8; 64];
    let n = read_up_to(&mut file, &mut ident)?;
    let Some(header) = Header::parse(&ident[..n]) else {
        return Ok(Linking::NotElf);
    };
    let table_len = header.phentsize * header.phnum.min(MAX_PROGRAM_HEADERS);
    let mut table = vec![0u8; table_len];
    file.seek(SeekFrom::Start(header.phoff))?;
    if read_up_to(&mut file, &mut table)? < table_len {
        return Ok(Linking::NotElf);
    }
    Ok(header.linking(&table))
}

/// The fields of the ELF file header that locate the program header table.
#[derive(Debug)]
struct Header {
    little_endian: bool,
    phoff: u64,
    phentsize: usize,
    phnum: usize,
}

impl Header {
    fn parse(bytes: &[u8]) -> Option<Header> {
        if bytes.len() < 52 || &bytes[..4] != b"\x7fELF" {
            return None;
        }
        let little_endian = match bytes[5] {
            1 => true,
            2 => false,
            _ => return None,
        };
        let u16_at = |at: usize| {
            let b = [bytes[at], bytes[at + 1]];
            usize::from(if little_endian {
                u16::from_le_bytes(b)
            } else {
                u16::from_be_bytes(b)
            })
        };
        // Offsets from the System V ABI: e_phoff, e_phentsize, e_phnum move with the word size.
        let (phoff, phentsize, phnum) = match bytes[4] {
            1 => (
                u64::from(read_u32(&bytes[0x1c..], little_endian)),
                u16_at(0x2a),
                u16_at(0x2c),
            ),
            2 if bytes.len() >= 64 => {
                let b: [u8; 8] = bytes[0x20..0x28].try_into().ok()?;
                let phoff = if little_endian {
                    u64::from_le_bytes(b)
                } else {
                    u64::from_be_bytes(b)
                };
                (phoff, u16_at(0x36), u16_at(0x38))
            }
            _ => return None,
        };
        // p_type is the first 4-byte field of each entry; anything shorter is malformed.
        if phentsize < 4 {
            return None;
        }
        Some(Header {
            little_endian,
            phoff,
            phentsize,
            phnum,
        })
    }

    fn linking(&self, table: &[u8]) -> Linking {
        let dynamic = table
            .chunks_exact(self.phentsize)
            .any(|entry| read_u32(entry, self.little_endian) == PT_INTERP);
        if dynamic {
            Linking::Dynamic
        } else {
            Linking::Static
        }
    }
}

fn read_u32(bytes: &[u8], little_endian: bool) -> u32 {
    let b = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if little_endian {
        u32::from_le_bytes(b)
    } else {
        u32::from_be_bytes(b)
    }
}

/// Like `read_exact`, but a short file is an answer (not an ELF file), not an error.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// A 64-bit little-endian ELF file with the given program header types, for tests.
#[cfg(test)]
pub(crate) fn elf64(types: &[u32]) -> Vec<u8> {
    let mut bytes = vec![0u8; 64];
    bytes[..4].copy_from_slice(b"\x7fELF");
    bytes[4] = 2;
    bytes[5] = 1;
    bytes[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
    bytes[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
    bytes[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
    for t in types {
        let mut entry = vec![0u8; 56];
        entry[..4].copy_from_slice(&t.to_le_bytes());
        bytes.extend(entry);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 32-bit big-endian ELF file with the given program header types.
    fn elf32_be(types: &[u32]) -> Vec<u8> {
        let mut bytes = vec![0u8; 52];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 1;
        bytes[5] = 2;
        bytes[0x1c..0x20].copy_from_slice(&52u32.to_be_bytes());
        bytes[0x2a..0x2c].copy_from_slice(&32u16.to_be_bytes());
        bytes[0x2c..0x2e].copy_from_slice(&(types.len() as u16).to_be_bytes());
        for t in types {
            let mut entry = vec![0u8; 32];
            entry[..4].copy_from_slice(&t.to_be_bytes());
            bytes.extend(entry);
        }
        bytes
    }

    fn linking_of(bytes: &[u8]) -> Linking {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exe");
        std::fs::write(&path, bytes).unwrap();
        linking(&path).unwrap()
    }

    #[test]
    fn interpreter_header_means_dynamic() {
        // PT_PHDR, PT_INTERP, PT_LOAD: the layout of a typical dynamic executable.
        assert_eq!(linking_of(&elf64(&[6, PT_INTERP, 1])), Linking::Dynamic);
        assert_eq!(linking_of(&elf32_be(&[6, PT_INTERP, 1])), Linking::Dynamic);
    }

    #[test]
    fn no_interpreter_means_static() {
        assert_eq!(linking_of(&elf64(&[1, 1, 4])), Linking::Static);
        assert_eq!(linking_of(&elf32_be(&[1, 7])), Linking::Static);
    }

    #[test]
    fn scripts_and_truncated_files_are_not_elf() {
        assert_eq!(linking_of(b"#!/bin/sh\necho hi\n"), Linking::NotElf);
        assert_eq!(linking_of(b""), Linking::NotElf);
        // A header that promises program headers the file does not have.
        let mut cut = elf64(&[1, PT_INTERP]);
        cut.truncate(80);
        assert_eq!(linking_of(&cut), Linking::NotElf);
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = linking(Path::new("/nonexistent/cella-test-busybox")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
