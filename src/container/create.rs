//! `create`: from bundle to a container process waiting for `start`.

use std::fs::File;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{Container, ContainerError, Record, Status, START_SOCKET};
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
}

pub struct CreateRequest<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub opts: CreateOptions,
}

/// Creates the container; on any failure nothing is left: no state dir, process or cgroup.
pub fn create(req: &CreateRequest<'_>) -> Result<Container, CreateError> {
    super::validate_id(req.id)?;
    let spec = crate::config::load(&req.bundle).map_err(CreateError::Config)?;
    let plan = plan::build(PlanInput {
        id: req.id,
        bundle: &req.bundle,
        spec,
        opts: &req.opts,
        clone_into_cgroup: false,
        cgroup_view: crate::rootfs::CgroupView::None,
    })?;

    let (dir, lock) = Container::create_dir(req.root, req.id)?;
    let mut record = Record {
        id: req.id.to_owned(),
        bundle: req.bundle.clone(),
        rootfs: plan.rootfs_path.clone(),
        pid: 0,
        pid_start: 0,
        status: Status::Creating,
        created: runtime_spec::format_rfc3339_nano(std::time::SystemTime::now()),
        owner: owner_name(),
        cgroup: None,
        config: plan.spec.clone(),
    };
    match launch(&plan, &dir, &mut record, req.pid_file.as_deref()) {
        Ok(()) => Ok(Container::from_parts(dir, record, lock)),
        Err(e) => {
            cleanup(&dir, &record);
            Err(e)
        }
    }
}

fn launch(
    plan: &Plan,
    dir: &Path,
    record: &mut Record,
    pid_file: Option<&Path>,
) -> Result<(), CreateError> {
    super::write_record(dir, record)?;
    let sock = dir.join(START_SOCKET);
    let start =
        UnixListener::bind(&sock).map_err(|source| CreateError::Listen { path: sock, source })?;
    let mut events = Events { plan, dir, record };
    let init = parent::launch(plan, start, None, &mut events)?;
    record.pid = init.as_raw();
    record.pid_start = super::process_start_time(init).unwrap_or(0);
    record.status = Status::Created;
    super::write_record(dir, record)?;
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
    dir: &'a Path,
    record: &'a mut Record,
}

impl LaunchEvents for Events<'_> {
    fn on_pid(&mut self, pid: Pid, _is_init: bool) -> Result<(), String> {
        // Recorded at once, so that `delete --force` finds the process if we are killed now.
        self.record.pid = pid.as_raw();
        self.record.pid_start = super::process_start_time(pid).unwrap_or(0);
        super::write_record(self.dir, self.record).map_err(|e| e.to_string())
    }

    fn run_create_hooks(&mut self, init: Pid) -> Result<(), String> {
        let hooks = self.plan.spec.hooks().clone().unwrap_or_default();
        let state = hook_state(
            self.plan,
            "creating",
            u32::try_from(init.as_raw()).unwrap_or(0),
        );
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
fn cleanup(dir: &Path, record: &Record) {
    if record.pid > 0 {
        let pid = Pid::from_raw(record.pid);
        let _ = kill(pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
    }
    let _ = super::remove_state_dir(dir);
}

/// The OCI state document handed to hooks on stdin while the container is being made.
pub fn hook_state(plan: &Plan, status: &str, pid: u32) -> String {
    let status =
        serde_json::from_value(serde_json::Value::from(status)).unwrap_or(Status::Creating);
    runtime_spec::State {
        oci_version: plan.spec.version().clone(),
        id: plan.id.clone(),
        status,
        pid: i32::try_from(pid).unwrap_or(0),
        bundle: plan.bundle.clone(),
        annotations: plan
            .spec
            .annotations()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        rootfs: plan.rootfs_path.clone(),
        created: String::new(),
        owner: String::new(),
    }
    .to_oci_json()
}

/// Writes the pid without a newline (containerd reads it as is), atomically.
pub fn write_pid_file(path: &Path, pid: Pid) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("pid")
    ));
    let mut f = File::create(&tmp)?;
    f.write_all(pid.as_raw().to_string().as_bytes())?;
    std::fs::rename(&tmp, path)
}

/// runc records the name of the user owning the state (root for us).
fn owner_name() -> String {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| "#".to_owned() + &uid.to_string(), |u| u.name)
}
