//! The bpf(2) system call, for the commands cgroup device filters use: load a program, attach
//! it to a cgroup, list and detach what is attached there. Attribute layouts are the kernel's
//! `union bpf_attr` members (include/uapi/linux/bpf.h), cut after the last field we set: the
//! kernel zero-fills the rest of a shorter attribute, so older and newer kernels accept them.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// bpf(2) commands (`enum bpf_cmd`).
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;

/// `enum bpf_prog_type`: a program that decides device access for a cgroup (Linux 4.15).
pub const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `enum bpf_attach_type`: where a cgroup device program hooks in.
pub const BPF_CGROUP_DEVICE: u32 = 6;
/// Attach flags: the cgroup keeps several programs of this type, all of which must allow
/// (with the programs of every ancestor).
pub const BPF_F_ALLOW_MULTI: u32 = 1 << 1;

/// One eBPF instruction as the kernel reads it (`struct bpf_insn`): opcode, destination and
/// source register in one byte (4 bits each), signed offset, signed immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u8,
    regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl BpfInsn {
    /// Registers are 0..=10; larger values are cut to 4 bits.
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
        BpfInsn {
            code,
            regs: pack_regs(dst & 0xf, src & 0xf),
            off,
            imm,
        }
    }

    #[cfg(test)]
    pub const fn dst(&self) -> u8 {
        unpack_regs(self.regs).0
    }

    #[cfg(test)]
    pub const fn src(&self) -> u8 {
        unpack_regs(self.regs).1
    }
}

// `__u8 dst_reg:4; __u8 src_reg:4;` — C bit-fields fill from the low bits on little-endian
// targets and from the high bits on big-endian ones.
#[cfg(target_endian = "little")]
const fn pack_regs(dst: u8, src: u8) -> u8 {
    dst | (src << 4)
}
#[cfg(all(test, target_endian = "little"))]
const fn unpack_regs(regs: u8) -> (u8, u8) {
    (regs & 0xf, regs >> 4)
}
#[cfg(target_endian = "big")]
const fn pack_regs(dst: u8, src: u8) -> u8 {
    (dst << 4) | src
}
#[cfg(all(test, target_endian = "big"))]
const fn unpack_regs(regs: u8) -> (u8, u8) {
    (regs >> 4, regs & 0xf)
}

/// `bpf_attr` for BPF_PROG_LOAD, up to `expected_attach_type`.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `bpf_attr` for BPF_PROG_ATTACH and BPF_PROG_DETACH, up to `replace_bpf_fd`.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `bpf_attr` for BPF_PROG_QUERY, up to `prog_cnt`.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// `bpf_attr` for BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// # Safety
/// `attr` must be the attribute layout the kernel expects for `cmd`, and every pointer stored
/// in it must be valid for what the kernel reads or writes through it during the call.
unsafe fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> Result<libc::c_long, Errno> {
    // SAFETY: `attr` is a live, exclusively borrowed value of size_of::<T>() bytes; the caller
    // vouches for its layout and the pointers inside it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            std::ptr::from_mut(attr),
            std::mem::size_of::<T>(),
        )
    };
    Errno::result(ret)
}

/// An fd the kernel just returned: ours alone.
fn owned(ret: libc::c_long) -> Result<OwnedFd, Errno> {
    let fd = RawFd::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: bpf(2) returned this new fd (opened close-on-exec) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn raw(fd: BorrowedFd<'_>) -> u32 {
    // A borrowed fd is never negative.
    fd.as_raw_fd().unsigned_abs()
}

/// What BPF_PROG_LOAD needs besides the instructions.
pub struct ProgLoad<'a> {
    pub prog_type: u32,
    pub insns: &'a [BpfInsn],
    /// Checked by the kernel: programs calling GPL-only helpers need a GPL-compatible one.
    pub license: &'a CStr,
    /// Shown by `bpftool prog`: at most 15 bytes of `[A-Za-z0-9_.]`, longer names are cut.
    pub name: &'a str,
    /// With a buffer, the kernel writes the verifier's log into it (level 1) and fails with
    /// ENOSPC when it is too small; without one it logs nothing.
    pub log: Option<&'a mut [u8]>,
}

/// Loads a program; the kernel verifies it first. EAGAIN (the verifier was interrupted) is
/// retried a few times.
pub fn prog_load(p: ProgLoad<'_>) -> Result<OwnedFd, Errno> {
    let insn_cnt = u32::try_from(p.insns.len()).map_err(|_| Errno::E2BIG)?;
    let mut prog_name = [0u8; 16];
    for (dst, src) in prog_name.iter_mut().zip(p.name.bytes().take(15)) {
        *dst = src;
    }
    let (log_level, log_size, log_buf) = match p.log {
        Some(buf) => (
            1,
            u32::try_from(buf.len()).unwrap_or(u32::MAX),
            buf.as_mut_ptr() as u64,
        ),
        None => (0, 0, 0),
    };
    let mut attempts = 0;
    loop {
        let mut attr = ProgLoadAttr {
            prog_type: p.prog_type,
            insn_cnt,
            insns: p.insns.as_ptr() as u64,
            license: p.license.as_ptr() as u64,
            log_level,
            log_size,
            log_buf,
            prog_name,
            ..ProgLoadAttr::default()
        };
        // SAFETY: the layout is BPF_PROG_LOAD's; `insns` points to insn_cnt instructions,
        // `license` to a NUL-terminated string and `log_buf` to log_size writable bytes, all
        // borrowed for the duration of the call.
        match unsafe { bpf(BPF_PROG_LOAD, &mut attr) } {
            Err(Errno::EAGAIN) if attempts < 5 => attempts += 1,
            other => return other.and_then(owned),
        }
    }
}

/// Attaches `prog` to the cgroup directory `cgroup` as `attach_type`, with `flags`.
pub fn prog_attach(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
) -> Result<(), Errno> {
    let mut attr = AttachAttr {
        target_fd: raw(cgroup),
        attach_bpf_fd: raw(prog),
        attach_type,
        attach_flags: flags,
        ..AttachAttr::default()
    };
    // SAFETY: BPF_PROG_ATTACH's layout; it holds fds only, no pointers.
    unsafe { bpf(BPF_PROG_ATTACH, &mut attr) }.map(drop)
}

/// Detaches `prog` (attached as `attach_type`) from the cgroup directory `cgroup`.
pub fn prog_detach(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
) -> Result<(), Errno> {
    let mut attr = AttachAttr {
        target_fd: raw(cgroup),
        attach_bpf_fd: raw(prog),
        attach_type,
        ..AttachAttr::default()
    };
    // SAFETY: BPF_PROG_DETACH's layout; it holds fds only, no pointers.
    unsafe { bpf(BPF_PROG_DETACH, &mut attr) }.map(drop)
}

/// The programs attached to `cgroup` itself (not those inherited from its ancestors) as
/// `attach_type`: their ids, and the attach flags of that cgroup for this type.
pub fn prog_query(cgroup: BorrowedFd<'_>, attach_type: u32) -> Result<(Vec<u32>, u32), Errno> {
    let mut ids = vec![0u32; 16];
    loop {
        let mut attr = QueryAttr {
            target_fd: raw(cgroup),
            attach_type,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: u32::try_from(ids.len()).map_err(|_| Errno::E2BIG)?,
            ..QueryAttr::default()
        };
        // SAFETY: BPF_PROG_QUERY's layout; `prog_ids` points to prog_cnt writable u32s that
        // live until the call returns.
        let ret = unsafe { bpf(BPF_PROG_QUERY, &mut attr) };
        let count = usize::try_from(attr.prog_cnt).map_err(|_| Errno::E2BIG)?;
        match ret {
            Ok(_) => {
                ids.truncate(count);
                return Ok((ids, attr.attach_flags));
            }
            // The kernel reports how many there are: grow and ask again.
            Err(Errno::ENOSPC) if count > ids.len() => ids.resize(count, 0),
            Err(e) => return Err(e),
        }
    }
}

/// A new fd for the loaded program with this id (needs CAP_SYS_ADMIN).
pub fn prog_get_fd_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut attr = GetFdAttr {
        prog_id: id,
        ..GetFdAttr::default()
    };
    // SAFETY: BPF_PROG_GET_FD_BY_ID's layout; it holds integers only.
    unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) }.and_then(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_sizes_match_the_kernel_layout() {
        use std::mem::size_of;
        assert_eq!(size_of::<BpfInsn>(), 8);
        assert_eq!(size_of::<ProgLoadAttr>(), 72);
        assert_eq!(size_of::<AttachAttr>(), 20);
        assert_eq!(size_of::<QueryAttr>(), 32);
        assert_eq!(size_of::<GetFdAttr>(), 12);
    }

    #[test]
    fn registers_round_trip() {
        let insn = BpfInsn::new(0xbc, 1, 3, 0, 0);
        assert_eq!((insn.dst(), insn.src()), (1, 3));
        #[cfg(target_endian = "little")]
        assert_eq!(insn.regs, 0x31);
    }
}
