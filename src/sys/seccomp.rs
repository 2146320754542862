//! seccomp(2): install a BPF filter, ask the kernel which filter flags it knows.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// SECCOMP_FILTER_FLAG_* values as the kernel defines them (include/uapi/linux/seccomp.h).
pub const FLAG_TSYNC: u32 = libc::SECCOMP_FILTER_FLAG_TSYNC as u32;
pub const FLAG_LOG: u32 = libc::SECCOMP_FILTER_FLAG_LOG as u32;
pub const FLAG_SPEC_ALLOW: u32 = libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32;
pub const FLAG_NEW_LISTENER: u32 = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
pub const FLAG_WAIT_KILLABLE_RECV: u32 = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32;

/// Size of one classic BPF instruction (`struct sock_filter`).
pub const INSTRUCTION_SIZE: usize = std::mem::size_of::<libc::sock_filter>();

/// Decodes a program exported by libseccomp (an array of `struct sock_filter` in native byte
/// order) into instructions. A trailing partial instruction is an error.
pub fn decode(bpf: &[u8]) -> Result<Vec<libc::sock_filter>, Errno> {
    if !bpf.len().is_multiple_of(INSTRUCTION_SIZE) {
        return Err(Errno::EINVAL);
    }
    Ok(bpf
        .chunks_exact(INSTRUCTION_SIZE)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// The bytes of `program`, in the layout [`decode`] reads.
pub fn encode(program: &[libc::sock_filter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() * INSTRUCTION_SIZE);
    for i in program {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.extend_from_slice(&[i.jt, i.jf]);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    out
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)` for the calling thread. With
/// SECCOMP_FILTER_FLAG_NEW_LISTENER in `flags` the kernel returns the notification fd
/// (close-on-exec), which becomes the returned `OwnedFd`.
pub fn set_mode_filter(
    flags: u32,
    program: &[libc::sock_filter],
) -> Result<Option<OwnedFd>, Errno> {
    let len = libc::c_ushort::try_from(program.len()).map_err(|_| Errno::EINVAL)?;
    let prog = libc::sock_fprog {
        len,
        // The kernel only reads through this pointer (it copies the program in).
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `program`, which outlives the call, and `len` is its length;
    // the kernel copies the instructions before returning and writes nothing to our memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &prog as *const libc::sock_fprog,
        )
    };
    let ret = Errno::result(ret)?;
    if flags & FLAG_NEW_LISTENER == 0 {
        return Ok(None);
    }
    let fd = RawFd::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: with NEW_LISTENER the return value is a new fd that nothing else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Whether the kernel accepts `flags` for SECCOMP_SET_MODE_FILTER. It checks the flags before
/// it reads the program, so a NULL program answers EFAULT when they are fine and EINVAL when
/// not; nothing is installed either way.
pub fn filter_flags_supported(flags: u32) -> bool {
    // SAFETY: a NULL program pointer is never dereferenced by us; the kernel's copy from it
    // fails with EFAULT, or the flags are refused before that.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    ret == -1 && Errno::last() == Errno::EFAULT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reads_native_instructions() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0x06u16.to_ne_bytes());
        bytes.extend_from_slice(&[1, 2]);
        bytes.extend_from_slice(&0x7fff_0000u32.to_ne_bytes());
        let prog = decode(&bytes).unwrap();
        assert_eq!(prog.len(), 1);
        assert_eq!(
            (prog[0].code, prog[0].jt, prog[0].jf, prog[0].k),
            (0x06, 1, 2, 0x7fff_0000)
        );
        assert_eq!(decode(&bytes[..7]).unwrap_err(), Errno::EINVAL);
        assert_eq!(encode(&prog), bytes);
    }

    #[test]
    fn unknown_flags_are_refused_and_known_ones_probe_safely() {
        assert!(!filter_flags_supported(1 << 30));
        // Present since Linux 4.14; the probe installs nothing.
        assert!(filter_flags_supported(FLAG_LOG));
    }
}
