//! Loading the device program and attaching it to the container's cgroup directory.
//!
//! The attachment holds a reference on the program, so it keeps working after the runtime
//! exits and goes away with the cgroup. Programs that were attached to the same directory
//! before (a second call, e.g. for `update`) are detached only after the new one is in place:
//! for a moment both apply (a request must pass both), never none.

use std::ffi::CStr;
use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::program::device_program;
use crate::cgroups::resources::DeviceRule;
use crate::sys::bpf::{self, BpfInsn, ProgLoad};

/// The kernel only checks that it is known; "Apache" is what runc passes.
const LICENSE: &CStr = c"Apache";
/// Shown by `bpftool cgroup tree`.
const PROG_NAME: &str = "cella_devices";
/// Room for the verifier's log when a load fails (it stops at the first error).
const LOG_SIZE: usize = 256 * 1024;
/// At most this much of the log goes into the error message: its end says why.
const LOG_TAIL: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum DeviceFilterError {
    #[error("open cgroup directory {path}: {source}")]
    OpenDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "load the device filter of {path} (bpf BPF_PROG_LOAD, {insns} instructions): {errno}{log}"
    )]
    Load {
        path: PathBuf,
        insns: usize,
        errno: Errno,
        /// The verifier's log, "" when it had nothing to say.
        log: String,
    },
    #[error("list the device filters attached to {path} (bpf BPF_PROG_QUERY): {errno}")]
    Query { path: PathBuf, errno: Errno },
    #[error(
        "open device filter program {id} attached to {path} (bpf BPF_PROG_GET_FD_BY_ID): {errno}"
    )]
    OpenAttached {
        path: PathBuf,
        id: u32,
        errno: Errno,
    },
    #[error("attach the device filter to {path} (bpf BPF_PROG_ATTACH): {errno}")]
    Attach { path: PathBuf, errno: Errno },
    #[error("detach the previous device filter {id} from {path} (bpf BPF_PROG_DETACH): {errno}")]
    Detach {
        path: PathBuf,
        id: u32,
        errno: Errno,
    },
}

/// Enforces `rules` (in config order, default deny) on the cgroup2 directory `cgroup_dir` and
/// everything below it, replacing device filters attached there before.
pub fn attach_device_filter(
    cgroup_dir: &Path,
    rules: &[DeviceRule],
) -> Result<(), DeviceFilterError> {
    let path = cgroup_dir.to_path_buf();
    let dir: OwnedFd = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(cgroup_dir)
        .map_err(|source| DeviceFilterError::OpenDir {
            path: path.clone(),
            source,
        })?
        .into();
    let insns = device_program(rules);
    let prog = load(&insns).map_err(|(errno, log)| DeviceFilterError::Load {
        path: path.clone(),
        insns: insns.len(),
        errno,
        log,
    })?;

    let (ids, mode) = bpf::prog_query(dir.as_fd(), bpf::BPF_CGROUP_DEVICE).map_err(|errno| {
        DeviceFilterError::Query {
            path: path.clone(),
            errno,
        }
    })?;
    let mut old = Vec::with_capacity(ids.len());
    for id in ids {
        match bpf::prog_get_fd_by_id(id) {
            Ok(fd) => old.push((id, fd)),
            // Detached and freed since the query: nothing to replace.
            Err(Errno::ENOENT) => {}
            Err(errno) => {
                return Err(DeviceFilterError::OpenAttached {
                    path: path.clone(),
                    id,
                    errno,
                })
            }
        }
    }
    // A directory that holds one program without BPF_F_ALLOW_MULTI (attached by another
    // tool) refuses a multi attachment; attaching in its own mode replaces that program.
    let single = !old.is_empty() && mode & bpf::BPF_F_ALLOW_MULTI == 0;
    let flags = if single { mode } else { bpf::BPF_F_ALLOW_MULTI };
    bpf::prog_attach(dir.as_fd(), prog.as_fd(), bpf::BPF_CGROUP_DEVICE, flags).map_err(
        |errno| DeviceFilterError::Attach {
            path: path.clone(),
            errno,
        },
    )?;
    if single {
        return Ok(());
    }
    for (id, fd) in old {
        match bpf::prog_detach(dir.as_fd(), fd.as_fd(), bpf::BPF_CGROUP_DEVICE) {
            // Detached by someone else meanwhile.
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(errno) => {
                return Err(DeviceFilterError::Detach {
                    path: path.clone(),
                    id,
                    errno,
                })
            }
        }
    }
    Ok(())
}

/// Loads without a log first (the usual case costs no log buffer); on failure loads again
/// with one, to say why the verifier refused. The errno is the first attempt's.
pub(super) fn load(insns: &[BpfInsn]) -> Result<OwnedFd, (Errno, String)> {
    let request = |log| ProgLoad {
        prog_type: bpf::BPF_PROG_TYPE_CGROUP_DEVICE,
        insns,
        license: LICENSE,
        name: PROG_NAME,
        log,
    };
    let errno = match bpf::prog_load(request(None)) {
        Ok(fd) => return Ok(fd),
        Err(errno) => errno,
    };
    let mut buf = vec![0u8; LOG_SIZE];
    if let Ok(fd) = bpf::prog_load(request(Some(&mut buf))) {
        // Refused once, accepted now: whatever it was passed.
        return Ok(fd);
    }
    Err((errno, log_tail(&buf)))
}

/// The end of the NUL-terminated log, as ": verifier log: ...", or "".
fn log_tail(buf: &[u8]) -> String {
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let text = String::from_utf8_lossy(&buf[..len]);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let mut start = text.len().saturating_sub(LOG_TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = if start > 0 { "..." } else { "" };
    format!(": verifier log: {cut}{}", text[start..].replace('\n', "; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_keeps_the_end_on_one_line() {
        assert_eq!(log_tail(&[0; 8]), "");
        assert_eq!(
            log_tail(b"0: (61) r2 = *(u32 *)(r1 +0)\nR0 !read_ok\n\0junk"),
            ": verifier log: 0: (61) r2 = *(u32 *)(r1 +0); R0 !read_ok"
        );
        let long = format!("{}\nlast line", "x".repeat(LOG_TAIL * 2));
        let tail = log_tail(long.as_bytes());
        assert!(tail.starts_with(": verifier log: ..."), "{tail}");
        assert!(tail.ends_with("; last line"), "{tail}");
        assert!(tail.len() < LOG_TAIL + 40);
    }
}
