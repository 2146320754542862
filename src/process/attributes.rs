//! The process's own attributes, set by itself between its namespaces and execve: ids,
//! capabilities, rlimits, scheduling, environment, the program to run, fds and signals.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use caps::{CapSet, CapsHashSet};
use nix::errno::Errno;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::unistd::{Gid, Uid};

use super::init::{errno_fail, fail};
use crate::plan::{CapSets, ProcessPlan};
use crate::process::protocol::ChildError;

/// The process's environment, with HOME from the container's /etc/passwd when the config has
/// none (runc's rule; "/" when the user has no entry).
pub(super) fn env_with_home(p: &ProcessPlan) -> Result<Vec<CString>, ChildError> {
    let mut env = p.env.clone();
    if !env.iter().any(|e| e.to_bytes().starts_with(b"HOME=")) {
        let home = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|pw| passwd_home(&pw, p.uid));
        env.push(
            CString::new(format!("HOME={}", home.as_deref().unwrap_or("/")))
                .map_err(|e| fail("HOME", e))?,
        );
    }
    Ok(env)
}

/// The home directory of `uid` in an /etc/passwd text.
fn passwd_home(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid) && !f[5].is_empty())
            .then(|| f[5].to_owned())
    })
}

/// Takes uid/gid 0 of the new user namespace (when mapped), so files we create are root's.
pub(super) fn become_root_in_userns() -> Result<(), ChildError> {
    let root_gid = Gid::from_raw(0);
    let root_uid = Uid::from_raw(0);
    match nix::unistd::setresgid(root_gid, root_gid, root_gid) {
        Ok(()) | Err(Errno::EINVAL) => {}
        Err(e) => return Err(errno_fail("setresgid(0)", e)),
    }
    match nix::unistd::setresuid(root_uid, root_uid, root_uid) {
        Ok(()) | Err(Errno::EINVAL) => Ok(()),
        Err(e) => Err(errno_fail("setresuid(0)", e)),
    }
}

pub(super) fn set_process_attributes(p: &ProcessPlan) -> Result<(), ChildError> {
    for r in &p.rlimits {
        let lim = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        crate::sys::sched::setrlimit(r.resource, &lim)
            .map_err(|e| errno_fail(&format!("setrlimit({})", r.resource), e))?;
    }
    if let Some(persona) = p.personality {
        crate::sys::sched::personality(persona).map_err(|e| errno_fail("personality", e))?;
    }
    if let Some(m) = &p.mempolicy {
        crate::sys::sched::set_mempolicy(m.mode, &m.nodemask, m.maxnode)
            .map_err(|e| errno_fail("set_mempolicy (linux.memoryPolicy)", e))?;
    }
    if let Some(attr) = &p.scheduler {
        crate::sys::sched::sched_setattr(attr).map_err(|e| errno_fail("sched_setattr", e))?;
    }
    if let Some(prio) = p.ioprio {
        crate::sys::sched::ioprio_set(prio).map_err(|e| errno_fail("ioprio_set", e))?;
    }
    if let Some(mask) = p.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    Ok(())
}

/// Switches to the process's user, keeping exactly the configured capabilities. The bounding
/// set is cut while we still have CAP_SETPCAP; KEEPCAPS carries the permitted set across
/// setuid; the effective set is rebuilt after it.
pub(super) fn switch_user(p: &ProcessPlan) -> Result<(), ChildError> {
    let caps_err = |what: &str, e: caps::errors::CapsError| fail(what, e);
    if let Some(c) = &p.caps {
        for cap in caps::all() {
            if !c.bounding.contains(&cap)
                && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
            {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| caps_err("drop bounding capability", e))?;
            }
        }
    }
    nix::sys::prctl::set_keepcaps(true).map_err(|e| errno_fail("prctl(PR_SET_KEEPCAPS)", e))?;
    let mut groups: Vec<Gid> = p
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    groups.dedup();
    match nix::unistd::setgroups(&groups) {
        Ok(()) => {}
        // In a user namespace with setgroups denied, only an empty list could work anyway.
        Err(Errno::EPERM) if groups.is_empty() => {}
        Err(e) => return Err(errno_fail("setgroups", e)),
    }
    let gid = Gid::from_raw(p.gid);
    nix::unistd::setresgid(gid, gid, gid)
        .map_err(|e| errno_fail(&format!("setresgid({})", p.gid), e))?;
    let uid = Uid::from_raw(p.uid);
    nix::unistd::setresuid(uid, uid, uid)
        .map_err(|e| errno_fail(&format!("setresuid({})", p.uid), e))?;
    nix::sys::prctl::set_keepcaps(false).map_err(|e| errno_fail("prctl(PR_SET_KEEPCAPS)", e))?;
    if let Some(c) = &p.caps {
        apply_caps(c)?;
    }
    nix::unistd::chdir(&p.cwd)
        .map_err(|e| errno_fail(&format!("chdir to cwd ({:?}) set in config.json", p.cwd), e))?;
    // A cwd reached through a magic link (/proc/self/fd/N, CVE-2024-21626) can lie outside
    // the container's root; the kernel then reports it as unreachable (getcwd fails with
    // ENOENT, or returns a path not starting with '/').
    match nix::unistd::getcwd() {
        Ok(dir) if dir.is_absolute() => Ok(()),
        _ => Err(ChildError {
            step: "chdir".into(),
            errno: Some(Errno::ENOENT as i32),
            message: format!(
                "cwd {:?} set in config.json is outside the container's root",
                p.cwd
            ),
        }),
    }
}

fn apply_caps(c: &CapSets) -> Result<(), ChildError> {
    let set = |which: CapSet, v: &CapsHashSet| {
        caps::set(None, which, v).map_err(|e| fail(&format!("set {which:?} capabilities"), e))
    };
    // Inheritable while we still may (CAP_SETPCAP), then effective before shrinking permitted,
    // since effective must stay a subset of permitted.
    set(CapSet::Inheritable, c.get(CapSet::Inheritable))?;
    set(CapSet::Effective, c.get(CapSet::Effective))?;
    set(CapSet::Permitted, c.get(CapSet::Permitted))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| fail("clear ambient capabilities", e))?;
    // A cap missing from the inheritable set cannot be ambient; runc warns and goes on, and
    // configs (runc's own default among them) rely on that.
    for cap in &c.ambient {
        if let Err(e) = caps::raise(None, CapSet::Ambient, *cap) {
            log::debug!("cannot raise ambient capability {cap}: {e}");
        }
    }
    Ok(())
}

/// Finds the program as execvp would, but now, so that a missing binary fails `create` with a
/// message naming it (runc's wording), not the container after `start`.
pub(super) fn find_program(p: &ProcessPlan) -> Result<CString, ChildError> {
    let arg0 = p.args[0].to_str().unwrap_or_default();
    let check = |path: &Path| -> Result<(), Errno> {
        nix::unistd::access(path, nix::unistd::AccessFlags::X_OK)?;
        let meta =
            std::fs::metadata(path).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
        if meta.is_dir() {
            return Err(Errno::EACCES);
        }
        Ok(())
    };
    let not_found = |msg: String| ChildError {
        step: "exec".into(),
        errno: Some(Errno::ENOENT as i32),
        message: msg,
    };
    if arg0.contains('/') {
        return match check(Path::new(arg0)) {
            Ok(()) => Ok(p.args[0].clone()),
            Err(e) => Err(ChildError {
                step: "exec".into(),
                errno: Some(e as i32),
                message: format!("exec: {arg0:?}: stat {arg0}: {}", e.desc().to_lowercase()),
            }),
        };
    }
    let path_var = p
        .path_var
        .as_deref()
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = PathBuf::from(dir).join(arg0);
        if check(&candidate).is_ok() {
            return CString::new(candidate.into_os_string().into_encoded_bytes())
                .map_err(|e| fail("exec", e));
        }
    }
    Err(not_found(format!(
        "exec: {arg0:?}: executable file not found in $PATH"
    )))
}

/// Leaves exactly stdio and the configured extra fds open across execve, with default signal
/// dispositions and an empty mask (the runtime ignores SIGPIPE and may block signals).
pub(super) fn prepare_fds_and_signals(p: &ProcessPlan) -> Result<(), ChildError> {
    let first_closed = 3 + i32::try_from(p.extra_fds).unwrap_or(0);
    crate::sys::fd::cloexec_from(first_closed).map_err(|e| errno_fail("close_range", e))?;
    for fd in 3..first_closed {
        crate::sys::fd::clear_cloexec(fd).map_err(|e| errno_fail(&format!("keep fd {fd}"), e))?;
    }
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // Signals that cannot be caught or are unknown to the kernel just fail: ignore them.
        let _ = crate::sys::signal::set_default(sig);
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| errno_fail("sigprocmask", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::passwd_home;

    #[test]
    fn home_from_passwd() {
        let pw = "root:x:0:0:root:/root:/bin/sh\nbad line\nuser:x:1000:1000::/home/user:/bin/sh\nnohome:x:5:5:::\n";
        assert_eq!(passwd_home(pw, 0).as_deref(), Some("/root"));
        assert_eq!(passwd_home(pw, 1000).as_deref(), Some("/home/user"));
        assert_eq!(passwd_home(pw, 5), None);
        assert_eq!(passwd_home(pw, 42), None);
    }
}
