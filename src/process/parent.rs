//! The runtime's side of the protocol: clone the container process and see it to `Ready`.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::cgroups::{CgroupJoin, TasksFile};
use crate::plan::{ExecPlan, Plan};
use crate::process::channel::{self, Channel, ChannelError};
use crate::process::init::{self, InitArgs};
use crate::process::protocol::{ChildError, FromChild, ToChild};
use crate::sys::clone::{clone3, Forked};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("clone container process: {0}")]
    Clone(nix::errno::Errno),
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Child(ChildError),
    #[error("container process exited before it was ready: {0}")]
    Died(String),
    #[error("write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Callback(String),
    #[error("unexpected message {0:?} from the container process")]
    Protocol(FromChild),
}

/// What the runtime does at the moments the protocol gives it.
pub trait LaunchEvents {
    /// A pid to remember: first the cloned child, then, on the two-stage path, the container
    /// process. The child joins its cgroups itself (`cgroup` of [`launch`]).
    fn on_pid(&mut self, pid: Pid, is_init: bool) -> Result<(), String>;
    /// prestart and createRuntime hooks, with the container process's pid.
    fn run_create_hooks(&mut self, init: Pid) -> Result<(), String>;
    /// The pty master of a process with a terminal.
    fn on_console(&mut self, master: std::os::fd::OwnedFd, name: &str) -> Result<(), String>;
    /// The seccomp notification listener of the process `pid`, for the agent at listenerPath.
    fn on_seccomp_listener(
        &mut self,
        listener: std::os::fd::OwnedFd,
        pid: Pid,
    ) -> Result<(), String>;
    /// Called once the container process runs: finish its cgroups (on v1 they are made now,
    /// while the child mounts) and return the v1 `tasks` files it is to join.
    fn prepare_cgroups(&mut self) -> Result<Vec<TasksFile>, String> {
        Ok(Vec::new())
    }
}

/// Clones the container process (into the cgroup2 cgroup open at `clone_into`; it joins the
/// v1 ones itself with the files [`LaunchEvents::prepare_cgroups`] opens) and runs the
/// protocol up to `Ready`. On error the caller kills and reaps whatever pid it was told about.
pub fn launch(
    plan: &Plan,
    start: UnixListener,
    clone_into: Option<OwnedFd>,
    events: &mut dyn LaunchEvents,
) -> Result<Pid, LaunchError> {
    let (chan, child_chan) = channel::pair()?;
    let flags = plan.ns.clone_flags.bits() as u64;
    let child =
        match clone3(flags, clone_into.as_ref().map(AsFd::as_fd)).map_err(LaunchError::Clone)? {
            Forked::Child => {
                drop(chan);
                init::run(InitArgs {
                    plan,
                    chan: child_chan,
                    start,
                })
            }
            Forked::Parent(pid) => pid,
        };
    drop((child_chan, start, clone_into));
    log::debug!(
        "cloned container process {child} with {:?}",
        plan.ns.clone_flags
    );
    events
        .on_pid(child, !plan.ns.fork)
        .map_err(LaunchError::Callback)?;
    if plan.ns.new_user && !plan.ns.fork {
        write_id_maps(plan, child)?;
    }
    chan.send(&ToChild::Continue)?;
    send_cgroups(&chan, events)?;
    // Without a user namespace made in two stages, the child is ready for the mounts now.
    if !(plan.ns.fork && plan.ns.new_user) {
        send_idmapped_mounts(plan, &chan, child)?;
    }
    drive(plan, &chan, child, events)
}

/// Clones the process of `cella exec` (joining the container's cgroups as [`launch`] does) and
/// sees it to its execve. Returns its pid once the program runs.
pub fn launch_exec(
    plan: &ExecPlan,
    cgroup: CgroupJoin,
    events: &mut dyn LaunchEvents,
) -> Result<Pid, LaunchError> {
    let (chan, child_chan) = channel::pair()?;
    let CgroupJoin { clone_into, tasks } = cgroup;
    let child = match clone3(0, clone_into.as_ref().map(AsFd::as_fd)).map_err(LaunchError::Clone)? {
        Forked::Child => {
            drop(chan);
            init::run_exec(plan, child_chan, tasks)
        }
        Forked::Parent(pid) => pid,
    };
    drop((child_chan, clone_into, tasks));
    events.on_pid(child, false).map_err(LaunchError::Callback)?;
    chan.send(&ToChild::Continue)?;
    let mut process = None;
    loop {
        match next(&chan, events)? {
            Some((FromChild::InitPid(pid), _)) => {
                let pid = Pid::from_raw(pid);
                // The forker exits right after telling us; reap it.
                let _ = waitpid(child, None);
                process = Some(pid);
            }
            Some((FromChild::SeccompListener, fds)) => {
                // Without an answer the process exits (EOF on its channel); reap it then.
                if let Err(e) = forward_listener(&chan, fds, process.unwrap_or(child), events) {
                    drop(chan);
                    reap(process.unwrap_or(child));
                    return Err(e);
                }
            }
            Some((FromChild::Error(e), _)) => {
                if let Some(p) = process {
                    reap(p);
                }
                return Err(LaunchError::Child(e));
            }
            Some((other, _)) => return Err(LaunchError::Protocol(other)),
            // The channel is close-on-exec: EOF means execve succeeded.
            None => {
                return process.ok_or_else(|| LaunchError::Died(reap(child)));
            }
        }
    }
}

/// The next message from the child, with the fds it carried; a pty master on the way is
/// handed to `events` here.
fn next(
    chan: &Channel,
    events: &mut dyn LaunchEvents,
) -> Result<Option<(FromChild, Vec<OwnedFd>)>, LaunchError> {
    loop {
        match chan.recv_with_fds::<FromChild>()? {
            Some((FromChild::Console(name), mut fds)) => {
                let master = fds.pop().ok_or_else(|| {
                    LaunchError::Callback("console message without its fd".into())
                })?;
                events
                    .on_console(master, &name)
                    .map_err(LaunchError::Callback)?;
            }
            other => return Ok(other),
        }
    }
}

fn drive(
    plan: &Plan,
    chan: &Channel,
    child: Pid,
    events: &mut dyn LaunchEvents,
) -> Result<Pid, LaunchError> {
    let mut init = child;
    loop {
        match next(chan, events)? {
            Some((FromChild::MapIds, _)) if plan.ns.fork => {
                write_id_maps(plan, child)?;
                chan.send(&ToChild::IdsMapped)?;
                send_idmapped_mounts(plan, chan, child)?;
            }
            Some((FromChild::InitPid(pid), _)) if plan.ns.fork => {
                init = Pid::from_raw(pid);
                // The forker exits right after telling us; reap it.
                let _ = waitpid(child, None);
                events.on_pid(init, true).map_err(LaunchError::Callback)?;
            }
            Some((FromChild::RunHooks, _)) => {
                events
                    .run_create_hooks(init)
                    .map_err(LaunchError::Callback)?;
                chan.send(&ToChild::HooksDone)?;
            }
            Some((FromChild::SeccompListener, fds)) => forward_listener(chan, fds, init, events)?,
            Some((FromChild::Ready, _)) => break,
            Some((FromChild::Error(e), _)) => {
                reap(init);
                return Err(LaunchError::Child(e));
            }
            Some((other, _)) => return Err(LaunchError::Protocol(other)),
            None => return Err(LaunchError::Died(reap(init))),
        }
    }
    if let Some(adj) = plan.process.oom_score_adj {
        let path = format!("/proc/{init}/oom_score_adj");
        std::fs::write(&path, adj.to_string())
            .map_err(|source| LaunchError::Write { path, source })?;
    }
    Ok(init)
}

/// Message 1b: the cgroups are ready, here are the v1 `tasks` files. A child that failed
/// meanwhile has closed its end: its error is read by `drive`, so a failed send is not ours
/// to report.
fn send_cgroups(chan: &Channel, events: &mut dyn LaunchEvents) -> Result<(), LaunchError> {
    let tasks = events.prepare_cgroups().map_err(LaunchError::Callback)?;
    let paths = tasks.iter().map(|t| t.path().to_path_buf()).collect();
    let fds: Vec<_> = tasks.iter().map(TasksFile::raw_fd).collect();
    if let Err(e) = chan.send_with_fds(&ToChild::Cgroups(paths), &fds) {
        log::debug!("container process gone before its cgroups were ready: {e}");
    }
    Ok(())
}

/// Hands the seccomp listener of `pid` to `events` (and so to the agent), then lets the
/// child go on.
fn forward_listener(
    chan: &Channel,
    mut fds: Vec<OwnedFd>,
    pid: Pid,
    events: &mut dyn LaunchEvents,
) -> Result<(), LaunchError> {
    let listener = fds
        .pop()
        .ok_or_else(|| LaunchError::Callback("seccomp listener message without its fd".into()))?;
    events
        .on_seccomp_listener(listener, pid)
        .map_err(LaunchError::Callback)?;
    chan.send(&ToChild::SeccompDone)?;
    Ok(())
}

/// Idmapped mounts must be made on the host (CAP_SYS_ADMIN over the mount's user namespace
/// and not yet attached), so the runtime makes them detached and hands them over.
fn send_idmapped_mounts(plan: &Plan, chan: &Channel, child: Pid) -> Result<(), LaunchError> {
    if !plan.rootfs.has_idmapped_mounts() {
        return Ok(());
    }
    let userns = if plan.ns.new_user {
        let path = format!("/proc/{child}/ns/user");
        Some(std::fs::File::open(&path).map_err(|source| LaunchError::Write { path, source })?)
    } else {
        None
    };
    let mounts = plan
        .rootfs
        .open_idmapped_mounts(userns.as_ref().map(std::os::fd::AsFd::as_fd))
        .map_err(|e| LaunchError::Callback(e.to_string()))?
        .into_fds();
    let indices = mounts.iter().map(|(i, _)| *i).collect();
    let fds: Vec<_> = mounts
        .iter()
        .map(|(_, fd)| std::os::fd::AsRawFd::as_raw_fd(fd))
        .collect();
    chan.send_with_fds(&ToChild::Idmapped(indices), &fds)?;
    Ok(())
}

fn write_id_maps(plan: &Plan, pid: Pid) -> Result<(), LaunchError> {
    for (file, map) in [("uid_map", &plan.uid_map), ("gid_map", &plan.gid_map)] {
        if let Some(map) = map {
            let path = format!("/proc/{pid}/{file}");
            std::fs::write(&path, map).map_err(|source| LaunchError::Write { path, source })?;
        }
    }
    Ok(())
}

/// Waits for a child that is known to be exiting and describes how it ended.
fn reap(pid: Pid) -> String {
    match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Ok(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("wait: {e}"),
    }
}
