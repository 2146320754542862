//! The only place for `unsafe` and raw libc calls. Every block carries a `// SAFETY:` note.
//! Each file wraps one kernel concept; callers get safe functions over `OwnedFd`/`BorrowedFd`.

pub mod bpf;
pub mod clone;
pub mod fd;
pub mod idmap_userns;
pub mod mount;
pub mod netlink;
pub mod sched;
pub mod seccomp;
pub mod signal;
pub mod tty;
pub mod uts;
