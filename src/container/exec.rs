//! `exec`: run another process in a running container.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::Process;

use super::{Container, ContainerError, Status};
use crate::cgroups::{CgroupJoin, Manager};
use crate::plan::{self, PlanError};
use crate::process::parent::{self, LaunchError, LaunchEvents};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("cannot exec in a stopped container")]
    Stopped,
    #[error("cannot exec in a paused container (use --ignore-paused to override)")]
    Paused,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error("write pid file {path}: {source}")]
    PidFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct ExecRequest {
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub pidfd_socket: Option<PathBuf>,
    pub detach: bool,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    /// `--cgroup [CONTROLLER:]PATH`: an existing sub-cgroup of the container's to join.
    pub sub_cgroups: Vec<String>,
}

/// The started process, and the pty master when the caller proxies the terminal.
pub struct Execed {
    pub pid: Pid,
    pub console: Option<OwnedFd>,
}

pub fn exec(c: &Container, req: &ExecRequest) -> Result<Execed, ExecError> {
    match c.status() {
        Status::Stopped => return Err(ExecError::Stopped),
        Status::Paused if !req.ignore_paused => return Err(ExecError::Paused),
        _ => {}
    }
    let terminal = req.process.terminal().unwrap_or(false);
    crate::tty::check_console_rules(terminal, req.detach, req.console_socket.is_some())
        .map_err(ExecError::Invalid)?;
    runtime_spec::validate_process(&req.process).map_err(|e| ExecError::Invalid(e.to_string()))?;
    let plan = plan::build_exec(
        &c.record.config,
        &req.process,
        c.record.pid,
        req.preserve_fds,
    )?;
    let cgroup = c.cgroup();
    let subdirs = match &cgroup {
        Some(cg) => sub_cgroup_dirs(cg, &req.sub_cgroups)?,
        None => Vec::new(),
    };
    // The process joins the container's cgroups itself (cloned into the cgroup2 one, the v1
    // ones through their `tasks` files); sub-cgroups are joined by pid after the clone.
    let join = match &cgroup {
        Some(cg) if subdirs.is_empty() => CgroupJoin::open(cg)?,
        _ => CgroupJoin::default(),
    };
    let joined = cgroup.is_some() && subdirs.is_empty();
    let mut console = None;
    let mut events = Events {
        container: c,
        cgroup: cgroup.as_ref(),
        subdirs: &subdirs,
        joined,
        console: crate::tty::ConsoleSink {
            socket: req.console_socket.as_deref(),
            kept: &mut console,
        },
    };
    let pid = parent::launch_exec(&plan, join, &mut events)?;
    if let Some(path) = &req.pidfd_socket {
        super::create::send_pidfd(path, pid).map_err(|e| ExecError::Invalid(e.to_string()))?;
    }
    if let Some(path) = &req.pid_file {
        super::create::write_pid_file(path, pid).map_err(|source| ExecError::PidFile {
            path: path.clone(),
            source,
        })?;
    }
    Ok(Execed { pid, console })
}

/// The directories of `--cgroup` values: `PATH` below the container's cgroup in every
/// hierarchy, or `CONTROLLER:PATH` in one (v1).
fn sub_cgroup_dirs(cg: &Manager, values: &[String]) -> Result<Vec<PathBuf>, ExecError> {
    let mut dirs = Vec::new();
    for v in values {
        let (controller, sub) = match v.split_once(':') {
            Some((c, p)) => (Some(c), p),
            None => (None, v.as_str()),
        };
        let sub = Path::new(sub.trim_start_matches('/'));
        if sub
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(ExecError::Invalid(format!(
                "invalid --cgroup {v:?}: must be below the container's cgroup"
            )));
        }
        let bases = match controller {
            Some(ctrl) => vec![cg.controller_dir(ctrl).ok_or_else(|| {
                ExecError::Invalid(format!("invalid --cgroup {v:?}: no controller {ctrl}"))
            })?],
            None => cg.leaf_dirs(),
        };
        for base in bases {
            let dir = base.join(sub);
            if !dir.is_dir() {
                return Err(ExecError::Invalid(format!(
                    "invalid --cgroup {v:?}: {} does not exist",
                    dir.display()
                )));
            }
            dirs.push(dir);
        }
    }
    Ok(dirs)
}

struct Events<'a> {
    container: &'a Container,
    cgroup: Option<&'a Manager>,
    subdirs: &'a [PathBuf],
    /// The process joins the cgroup itself (CgroupJoin).
    joined: bool,
    console: crate::tty::ConsoleSink<'a>,
}

impl LaunchEvents for Events<'_> {
    fn on_pid(&mut self, pid: Pid, _is_init: bool) -> Result<(), String> {
        if !self.joined {
            if let Some(cg) = self.cgroup {
                cg.add_process(pid.as_raw()).map_err(|e| e.to_string())?;
            }
        }
        for dir in self.subdirs {
            let procs = dir.join("cgroup.procs");
            std::fs::write(&procs, pid.as_raw().to_string())
                .map_err(|e| format!("write {}: {e}", procs.display()))?;
        }
        Ok(())
    }

    fn run_create_hooks(&mut self, _init: Pid) -> Result<(), String> {
        Ok(())
    }

    fn on_console(&mut self, master: OwnedFd, name: &str) -> Result<(), String> {
        self.console.take(master, name)
    }

    fn on_seccomp_listener(&mut self, listener: OwnedFd, pid: Pid) -> Result<(), String> {
        // As runc: the running container's state (its init's pid), the exec'd process's pid.
        let state = super::state_doc(self.container, Status::Running).to_oci_json();
        let config = self.container.record.config.linux().as_ref();
        crate::seccomp::hand_to_agent(
            config.and_then(|l| l.seccomp().as_ref()),
            pid.as_raw(),
            &state,
            listener,
        )
        .map_err(|e| e.to_string())
    }
}
