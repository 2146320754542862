//! Scheduling knobs of the calling process: sched_setattr(2), ioprio_set(2), session keyrings.

use std::ffi::CStr;

use nix::errno::Errno;

/// `struct sched_attr` (linux/sched/types.h), SCHED_ATTR_SIZE_VER1.
#[repr(C)]
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub sched_policy: u32,
    pub sched_flags: u64,
    pub sched_nice: i32,
    pub sched_priority: u32,
    pub sched_runtime: u64,
    pub sched_deadline: u64,
    pub sched_period: u64,
    pub sched_util_min: u32,
    pub sched_util_max: u32,
}

/// Applies `attr` to the calling thread.
pub fn sched_setattr(attr: &SchedAttr) -> Result<(), Errno> {
    let mut attr = attr.clone();
    attr.size = u32::try_from(std::mem::size_of::<SchedAttr>()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `attr` is a valid sched_attr whose `size` says how much the kernel may read.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, std::ptr::addr_of!(attr), 0) };
    Errno::result(ret).map(drop)
}

const IOPRIO_WHO_PROCESS: libc::c_int = 1;

/// Sets the I/O priority of the calling process; `value` is already `class << 13 | level`.
pub fn ioprio_set(value: libc::c_int) -> Result<(), Errno> {
    // SAFETY: plain integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    Errno::result(ret).map(drop)
}

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
const KEYCTL_SETPERM: libc::c_int = 5;
const KEYCTL_DESCRIBE: libc::c_int = 6;
const KEY_USR_SEARCH: u32 = 0x0008_0000;

/// Joins a new session keyring named `name`, so the container does not share the caller's
/// keys, and lets its owner search it (runc's permissions: 0x3f1b0000).
pub fn join_session_keyring(name: &CStr) -> Result<(), Errno> {
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    let serial = Errno::result(ret)?;
    let mut buf = [0u8; 256];
    // SAFETY: the kernel writes at most buf.len() bytes into `buf`, which outlives the call.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            serial,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    let n = usize::try_from(Errno::result(n)?).map_err(|_| Errno::EINVAL)?;
    // "type;uid;gid;perm;description"
    let text = String::from_utf8_lossy(&buf[..n.min(buf.len())]);
    let perm = text
        .split(';')
        .nth(3)
        .and_then(|p| u32::from_str_radix(p, 16).ok())
        .ok_or(Errno::EINVAL)?;
    // SAFETY: plain integer arguments.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_SETPERM,
            serial,
            perm | KEY_USR_SEARCH,
        )
    };
    Errno::result(ret).map(drop)
}

/// setrlimit(2) with the kernel's resource number.
pub fn setrlimit(resource: libc::__rlimit_resource_t, lim: &libc::rlimit) -> Result<(), Errno> {
    // SAFETY: `lim` is a valid rlimit that outlives the call.
    Errno::result(unsafe { libc::setrlimit(resource, lim) }).map(drop)
}

/// personality(2) with a raw persona value (PER_LINUX, PER_LINUX32...).
pub fn personality(persona: u64) -> Result<(), Errno> {
    let persona = libc::c_ulong::try_from(persona).map_err(|_| Errno::EINVAL)?;
    // SAFETY: plain integer argument.
    Errno::result(unsafe { libc::personality(persona) }).map(drop)
}

/// set_mempolicy(2): `mode` with its MPOL_F_* flags, `nodemask` one bit per node, the kernel
/// reading `maxnode - 1` bits of it (0 and an empty mask: no nodes).
pub fn set_mempolicy(mode: i32, nodemask: &[u64], maxnode: u64) -> Result<(), Errno> {
    if maxnode > nodemask.len() as u64 * 64 + 1 {
        return Err(Errno::EINVAL);
    }
    let mask = if nodemask.is_empty() {
        std::ptr::null()
    } else {
        nodemask.as_ptr()
    };
    // SAFETY: `mask` is null or points to `nodemask`, which holds at least `maxnode - 1` bits
    // (checked above) and outlives the call; the kernel only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, mask, maxnode) };
    Errno::result(ret).map(drop)
}
