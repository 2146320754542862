//! `create`: from bundle to a container process waiting for `start`.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{Container, ContainerError, Record, Status, START_SOCKET};
use crate::cgroups::{CgroupJoin, CgroupSources, CgroupVersion, Manager, ResourcePlan, TasksFile};
use crate::hooks;
use crate::plan::{self, CreateOptions, Plan, PlanError, PlanInput};
use crate::process::parent::{self, LaunchError, LaunchEvents};

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    DeviceFilter(#[from] crate::cgroups::DeviceFilterError),
    #[error("listen on {path}: {source}")]
    Listen {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error("write pid file {path}: {source}")]
    PidFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("send pidfd to {path}: {reason}")]
    Pidfd { path: PathBuf, reason: String },
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
}

/// Sends a pidfd of `pid` to the socket at `path` (runc's --pidfd-socket).
pub fn send_pidfd(path: &Path, pid: Pid) -> Result<(), CreateError> {
    let err = |reason: String| CreateError::Pidfd {
        path: path.to_owned(),
        reason,
    };
    let fd = crate::sys::fd::pidfd_open(pid).map_err(|e| err(e.to_string()))?;
    crate::process::channel::send_fd_to(path, fd.as_fd(), "pidfd").map_err(|e| err(e.to_string()))
}

pub struct CreateRequest<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Receives a pidfd of the container process once it is created.
    pub pidfd_socket: Option<PathBuf>,
    /// The runtime will not stay to proxy a terminal (`create`, `run -d`).
    pub detached: bool,
    pub opts: CreateOptions,
}

/// A created container, with the pty master when the runtime itself proxies the terminal.
pub struct Created {
    pub container: Container,
    pub console: Option<std::os::fd::OwnedFd>,
}

fn check_terminal(
    spec: &oci_spec::runtime::Spec,
    req: &CreateRequest<'_>,
) -> Result<(), CreateError> {
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    crate::tty::check_console_rules(terminal, req.detached, req.console_socket.is_some())
        .map_err(CreateError::Config)
}

/// Creates the container; on any failure nothing is left: no state dir, process or cgroup.
pub fn create(req: &CreateRequest<'_>) -> Result<Created, CreateError> {
    super::validate_id(req.id)?;
    let spec = crate::config::load(&req.bundle).map_err(CreateError::Config)?;
    check_terminal(&spec, req)?;
    log::debug!("loaded {}/config.json", req.bundle.display());
    let linux = spec.linux().clone().unwrap_or_default();
    let cgroups_path = linux
        .cgroups_path()
        .as_ref()
        .and_then(|p| p.to_str())
        .filter(|p| !p.is_empty());
    let mut cgroup = Manager::new(&CgroupSources::default().config(cgroups_path, req.id)?)?;
    let resources = cgroup_resources(&linux, cgroup.version())?;
    let plan = plan::build(PlanInput {
        id: req.id,
        bundle: &req.bundle,
        spec,
        opts: &req.opts,
        clone_into_cgroup: cgroup.version() == CgroupVersion::V2,
        cgroup_view: cgroup_view(&cgroup),
    })?;

    log::debug!("plan: {:?}", plan.ns);
    let network = crate::network::plan(
        plan.spec.annotations().as_ref(),
        linux.net_devices().as_ref(),
        plan.ns.has_new(nix::sched::CloneFlags::CLONE_NEWNET),
    )?;
    let (dir, lock) = Container::create_dir(req.root, req.id)?;
    let mut record = Record {
        id: req.id.to_owned(),
        bundle: req.bundle.clone(),
        rootfs: plan.rootfs_path.clone(),
        pid: 0,
        pid_start: 0,
        status: Status::Creating,
        created: runtime_spec::format_rfc3339_nano(std::time::SystemTime::now()),
        cgroup: None,
        config: plan.spec.clone(),
    };
    let mut console = None;
    let launched = launch(
        &Launch {
            plan: &plan,
            dir: &dir,
            resources: &resources,
            pid_file: req.pid_file.as_deref(),
            console_socket: req.console_socket.as_deref(),
            pidfd_socket: req.pidfd_socket.as_deref(),
            root: req.root,
            network: &network,
        },
        &mut record,
        &mut cgroup,
        &mut console,
    );
    match launched {
        Ok(()) => Ok(Created {
            container: Container::from_parts(dir, record, lock),
            console,
        }),
        Err(e) => {
            cleanup(&dir, &record, &cgroup);
            Err(e)
        }
    }
}

/// What a `cgroup` mount inside the container shows: its own cgroup in every hierarchy.
fn cgroup_view(cg: &Manager) -> crate::rootfs::CgroupView {
    use crate::rootfs::CgroupView;
    if cg.version() == CgroupVersion::V2 {
        return CgroupView::V2 {
            container_dir: cg.controller_dir(""),
        };
    }
    let hierarchies = cg
        .state()
        .hierarchies
        .iter()
        .zip(cg.leaf_dirs())
        .filter(|(h, _)| !h.unified)
        .map(|(h, dir)| (h.controllers.clone(), dir))
        .collect();
    CgroupView::V1 { hierarchies }
}

/// linux.resources plus the device rules every container needs, planned for this host.
fn cgroup_resources(
    linux: &oci_spec::runtime::Linux,
    version: CgroupVersion,
) -> Result<ResourcePlan, CreateError> {
    let mut res = linux.resources().clone().unwrap_or_default();
    let configured = res.devices().clone().unwrap_or_default();
    let devices = linux.devices().clone().unwrap_or_default();
    res.set_devices(Some(crate::cgroups::device_rules(&configured, &devices)));
    let planned = crate::cgroups::plan_resources(&res, version)?;
    for ignored in &planned.ignored {
        log::warn!("{ignored}");
    }
    Ok(planned)
}

/// What `launch` needs besides the things it fills in.
struct Launch<'a> {
    plan: &'a Plan,
    dir: &'a Path,
    resources: &'a ResourcePlan,
    pid_file: Option<&'a Path>,
    console_socket: Option<&'a Path>,
    pidfd_socket: Option<&'a Path>,
    root: &'a Path,
    network: &'a crate::network::NetworkPlan,
}

fn launch(
    l: &Launch<'_>,
    record: &mut Record,
    cgroup: &mut Manager,
    console: &mut Option<std::os::fd::OwnedFd>,
) -> Result<(), CreateError> {
    let Launch {
        plan,
        dir,
        resources,
        pid_file,
        console_socket,
        pidfd_socket,
        root,
        network,
    } = *l;
    // Saved once, before the cgroup exists, with the directories about to be made, so that
    // `delete --force` removes them even when this runtime is killed while making them.
    cgroup.plan_created();
    record.cgroup = Some(cgroup.state().clone());
    super::write_record(dir, record)?;
    if cgroup.version() == CgroupVersion::V2 {
        // The process is cloned into its cgroup: limits and the device program (v2 has no
        // devices controller: an eBPF program on the cgroup) must be there before it runs.
        cgroup.create()?;
        cgroup.apply(&resources.writes)?;
        let dir = cgroup
            .controller_dir("")
            .ok_or(crate::cgroups::CgroupError::NoHierarchy)?;
        crate::cgroups::attach_device_filter(&dir, &resources.devices)?;
    } else {
        // v1: only a hybrid host's cgroup2 directory, cloned into; the rest is made by
        // `prepare_cgroups` while the child mounts, before it joins.
        cgroup.create_cgroup2()?;
    }
    let start =
        super::socket::bind_in(dir, START_SOCKET).map_err(|source| CreateError::Listen {
            path: dir.join(START_SOCKET),
            source,
        })?;
    let clone_into = cgroup.open_dir()?;
    let mut events = Events {
        plan,
        record,
        cgroup,
        resources,
        console: crate::tty::ConsoleSink {
            socket: console_socket,
            kept: console,
        },
        root,
        network,
    };
    let init = parent::launch(plan, start, clone_into, &mut events)?;
    // `on_pid` already recorded the container process (pid and start time).
    debug_assert_eq!(record.pid, init.as_raw());
    log::debug!("container process {init} is ready");
    record.status = Status::Created;
    super::write_record(dir, record)?;
    if let Some(path) = pidfd_socket {
        send_pidfd(path, init)?;
    }
    if let Some(path) = pid_file {
        write_pid_file(path, init).map_err(|source| CreateError::PidFile {
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(())
}

struct Events<'a> {
    plan: &'a Plan,
    record: &'a mut Record,
    cgroup: &'a mut Manager,
    resources: &'a ResourcePlan,
    console: crate::tty::ConsoleSink<'a>,
    root: &'a Path,
    network: &'a crate::network::NetworkPlan,
}

impl LaunchEvents for Events<'_> {
    fn on_pid(&mut self, pid: Pid, is_init: bool) -> Result<(), String> {
        // The first pid is the cloned child; on the two-stage path its fork (the container
        // process) follows. The child joins its cgroups itself (CgroupJoin), the fork inherits
        // them. Saved with `Created` only: until it has sent `Ready` the process dies with
        // this runtime (PR_SET_PDEATHSIG), and `delete --force` of a container left
        // `creating` kills whatever is in its cgroup.
        self.record.pid = pid.as_raw();
        self.record.pid_start = super::process_start_time(pid).unwrap_or(0);
        // The container process's network namespace exists now and the process waits for
        // us (or, when forked, cannot exec before `start`): configure it from outside.
        if is_init {
            crate::network::attach(self.root, &self.record.id, self.network, pid)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn on_console(&mut self, master: std::os::fd::OwnedFd, name: &str) -> Result<(), String> {
        self.console.take(master, name)
    }

    fn prepare_cgroups(&mut self) -> Result<Vec<TasksFile>, String> {
        let cg = &mut *self.cgroup;
        if cg.version() == CgroupVersion::V1 {
            cg.create().map_err(|e| e.to_string())?;
            cg.apply(&self.resources.writes)
                .map_err(|e| e.to_string())?;
            self.record.cgroup = Some(cg.state().clone());
        }
        log::debug!("cgroup made: {:?}", cg.leaf_dirs());
        CgroupJoin::open_tasks(cg).map_err(|e| e.to_string())
    }

    fn on_seccomp_listener(
        &mut self,
        listener: std::os::fd::OwnedFd,
        pid: Pid,
    ) -> Result<(), String> {
        // runc sends the state as it is while the container is being made.
        let state = hook_state(self.plan, Status::Creating, pid.as_raw());
        let config = self
            .plan
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref());
        crate::seccomp::hand_to_agent(config, pid.as_raw(), &state, listener)
            .map_err(|e| e.to_string())
    }

    fn run_create_hooks(&mut self, init: Pid) -> Result<(), String> {
        let hooks = self.plan.spec.hooks().clone().unwrap_or_default();
        let state = hook_state(self.plan, Status::Creating, init.as_raw());
        hooks::run_all(
            "prestart",
            hooks.prestart().as_deref().unwrap_or_default(),
            &state,
        )
        .and_then(|()| {
            hooks::run_all(
                "createRuntime",
                hooks.create_runtime().as_deref().unwrap_or_default(),
                &state,
            )
        })
        .map_err(|e| e.to_string())
    }
}

/// Undoes a failed create: the process, its cgroup, the state directory.
fn cleanup(dir: &Path, record: &Record, cgroup: &Manager) {
    if record.pid > 0 {
        let pid = Pid::from_raw(record.pid);
        let _ = kill(pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
    }
    if let Err(e) = cgroup.destroy() {
        log::warn!("removing the cgroup of a failed create: {e}");
    }
    if let Some(root) = dir.parent() {
        if let Err(e) = crate::network::release(root, &record.id) {
            log::warn!("removing the network of a failed create: {e}");
        }
    }
    let _ = super::remove_state_dir(dir);
    // runtime.md lifecycle: a failed create goes on at step 12 (destroy, above) and 13, the
    // poststop hooks, whose failures are only warnings.
    let hooks = record.config.hooks().clone().unwrap_or_default();
    if let Some(poststop) = hooks.poststop().as_ref().filter(|h| !h.is_empty()) {
        let state = super::new_state(
            &record.config,
            &record.id,
            &record.bundle,
            &record.rootfs,
            Status::Stopped,
            record.pid,
        );
        hooks::run_all_warn("poststop", poststop, &state.to_oci_json());
    }
}

/// The OCI state document handed to hooks on stdin while the container is being made.
pub fn hook_state(plan: &Plan, status: Status, pid: i32) -> String {
    super::new_state(
        &plan.spec,
        &plan.id,
        &plan.bundle,
        &plan.rootfs_path,
        status,
        pid,
    )
    .to_oci_json()
}

/// Writes the pid without a newline (containerd reads it as is), atomically.
pub fn write_pid_file(path: &Path, pid: Pid) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("pid");
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(pid.as_raw().to_string().as_bytes())?;
    std::fs::rename(&tmp, path)
}
