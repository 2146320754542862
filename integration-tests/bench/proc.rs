//! Spawning runtime invocations and reading what the kernel says they cost.
//!
//! The bench is a child subreaper, as containerd's shim is: a detached container's init (and
//! any intermediate process a runtime leaves behind) is reparented to the bench when the
//! runtime's `create` exits, so the bench can wait for the container to stop and its CPU time
//! lands in the bench's `RUSAGE_CHILDREN` like the runtime's own.
//!
//! Waiting is single-threaded: every tracked process has a pidfd, `poll` gives the time limit,
//! and `wait4` on that one pid returns its status and rusage. Orphans are reaped by
//! [`reap_orphans`] only when no tracked process is outstanding, so the sweep never steals the
//! exit of a process being measured.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// A process the bench started (or adopted, for a container's init) and waits for.
pub struct Proc {
    pub pid: Pid,
    pidfd: OwnedFd,
    started: Instant,
    /// Where its stderr went, quoted when it fails.
    stderr: Option<PathBuf>,
    what: String,
}

/// How one tracked process ended.
pub struct Exit {
    /// From the spawn (or adoption) to the moment its pidfd reported the exit.
    pub wall: Duration,
    /// Peak resident set of the process and of the children it waited for, in KiB.
    pub maxrss_kib: u64,
    /// The `wait4` status: `Some(code)` for a normal exit, `None` when killed by a signal.
    pub code: Option<i32>,
}

/// Makes the bench the reaper of orphaned descendants.
pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)
}

/// User plus system time of every descendant the bench has reaped so far.
pub fn children_cpu() -> Duration {
    let ru = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage(RUSAGE_CHILDREN)");
    let t =
        |tv: nix::sys::time::TimeVal| Duration::new(tv.tv_sec() as u64, tv.tv_usec() as u32 * 1000);
    t(ru.user_time()) + t(ru.system_time())
}

/// Starts `cmd` with stdin and stdout on /dev/null and stderr in the file `stderr`.
pub fn spawn(cmd: &mut Command, stderr: &Path) -> io::Result<Proc> {
    let err = File::create(stderr)?;
    let what = format!("{cmd:?}");
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()?;
    let pid = Pid::from_raw(child.id() as i32);
    // The child stays unreaped (std never waits for it once the handle is dropped), so the
    // pid cannot be reused before pidfd_open.
    drop(child);
    Ok(Proc {
        pid,
        pidfd: pidfd_open(pid)?,
        started,
        stderr: Some(stderr.to_owned()),
        what,
    })
}

/// Tracks a process the bench did not spawn but will reap: a container's init, reparented to
/// the subreaper bench once the runtime's `create` exited.
pub fn adopt(pid: Pid, what: &str) -> io::Result<Proc> {
    Ok(Proc {
        pid,
        pidfd: pidfd_open(pid)?,
        started: Instant::now(),
        stderr: None,
        what: what.to_owned(),
    })
}

impl Proc {
    /// The command line, and its stderr when there is any.
    pub fn describe(&self) -> String {
        let err = self
            .stderr
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let err = err.trim();
        if err.is_empty() {
            self.what.clone()
        } else {
            format!("{}: {}", self.what, err)
        }
    }
}

/// Waits for every process of `procs` to exit, at most `limit` in all, and reaps each. On
/// timeout the unfinished ones are SIGKILLed (they are unreaped, so their pids are still
/// theirs), reaped, and the error names them. A failed exit is an error too.
pub fn wait_all(procs: Vec<Proc>, limit: Duration) -> Result<Vec<Exit>, String> {
    let deadline = Instant::now() + limit;
    let mut done: Vec<Option<Exit>> = procs.iter().map(|_| None).collect();
    let mut left = procs.len();
    while left > 0 {
        let mut fds = Vec::with_capacity(left);
        let mut idx = Vec::with_capacity(left);
        for (i, p) in procs.iter().enumerate() {
            if done[i].is_none() {
                fds.push(PollFd::new(p.pidfd.as_fd(), PollFlags::POLLIN));
                idx.push(i);
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let ms = u16::try_from(remaining.as_millis()).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) if Instant::now() >= deadline => {
                return Err(timed_out(&procs, &mut done, limit));
            }
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(format!("poll on pidfds: {e}")),
        }
        let now = Instant::now();
        let ready: Vec<usize> = fds
            .iter()
            .zip(&idx)
            .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, &i)| i)
            .collect();
        for i in ready {
            let (code, maxrss_kib) = reap(procs[i].pid)?;
            done[i] = Some(Exit {
                wall: now - procs[i].started,
                maxrss_kib,
                code,
            });
            left -= 1;
        }
    }
    let mut out = Vec::with_capacity(procs.len());
    for (p, e) in procs.iter().zip(done) {
        let e = e.expect("every process reaped");
        if e.code != Some(0) {
            let how = match e.code {
                Some(c) => format!("exit code {c}"),
                None => "killed by a signal".to_owned(),
            };
            return Err(format!("{} failed ({how})", p.describe()));
        }
        out.push(e);
    }
    Ok(out)
}

/// Waits for one process; see [`wait_all`].
pub fn wait_one(p: Proc, limit: Duration) -> Result<Exit, String> {
    Ok(wait_all(vec![p], limit)?.remove(0))
}

fn timed_out(procs: &[Proc], done: &mut [Option<Exit>], limit: Duration) -> String {
    let mut names = Vec::new();
    for (p, d) in procs.iter().zip(done.iter_mut()) {
        if d.is_none() {
            let stuck = where_stuck(p.pid);
            let _ = kill(p.pid, Signal::SIGKILL);
            let _ = reap(p.pid);
            names.push(format!("{} ({stuck})", p.describe()));
            *d = Some(Exit {
                wall: limit,
                maxrss_kib: 0,
                code: None,
            });
        }
    }
    format!("timed out after {limit:?}: {}", names.join("; "))
}

/// What a hung process waits in (its kernel wait channel) and the state of its children: a
/// runtime sitting in `do_sigtimedwait` next to a zombie container lost the SIGCHLD.
fn where_stuck(pid: Pid) -> String {
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let kids: Vec<String> = children
        .split_whitespace()
        .map(|c| {
            let stat = std::fs::read_to_string(format!("/proc/{c}/stat")).unwrap_or_default();
            // The state letter follows the parenthesised command name.
            let state = stat.rsplit_once(") ").map_or("?", |(_, rest)| &rest[..1]);
            format!("{c} in state {state}")
        })
        .collect();
    let kids = if kids.is_empty() {
        "no children".to_owned()
    } else {
        format!("children: {}", kids.join(", "))
    };
    format!(
        "waiting in {}, {kids}",
        if wchan.is_empty() { "?" } else { &wchan }
    )
}

/// Reaps every exited orphan without blocking. Call only when no tracked process is pending.
pub fn reap_orphans() {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags by value and touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor, it is open and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// wait4(pid): the exit code (None when signalled) and ru_maxrss in KiB.
fn reap(pid: Pid) -> Result<(Option<i32>, u64), String> {
    let mut status = 0;
    // SAFETY: rusage is plain old data; all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: status and ru are valid, writable and live for the duration of the call.
        let r = unsafe { libc::wait4(pid.as_raw(), &mut status, libc::__WALL, &mut ru) };
        if r == pid.as_raw() {
            break;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(format!("wait4({pid}): {e}"));
        }
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ok((code, ru.ru_maxrss.max(0) as u64))
}
