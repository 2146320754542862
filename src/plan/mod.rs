//! Spec -> Plan: every decision the container process needs, made before the clone.
//!
//! The child only executes a plan; it never parses the config. Everything that can be wrong
//! in the config is found here, in the runtime, where the error can be reported plainly.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Process, Spec};

mod mempolicy;
mod process;

use process::plan_process;
pub use process::{CapSets, ProcessPlan};

use crate::namespaces::{self, NamespaceError, NamespacePlan};
use crate::rootfs::{self, RootfsError, RootfsOptions, RootfsPlan};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Namespaces(#[from] NamespaceError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error("process is required to create a container")]
    NoProcess,
    #[error("process.args must not be empty")]
    NoArgs,
    #[error("{field} contains a NUL byte")]
    Nul { field: &'static str },
    #[error("unknown rlimit {0:?}")]
    UnknownRlimit(String),
    #[error("linux.memoryPolicy.nodes: {0:?} is not a list of nodes like \"0-3,7\"")]
    MemoryPolicyNodes(String),
    #[error("unknown capability {0:?}")]
    UnknownCapability(String),
    #[error("unable to set hostname without a private UTS namespace")]
    HostnameWithoutUts,
    #[error("user namespaces enabled, but no user mapping found")]
    NoMappings,
    #[error("user mappings found, but no user namespace requested")]
    MappingsWithoutUserNs,
    #[error(transparent)]
    Lsm(#[from] crate::lsm::LsmError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
}

/// Options from the command line that shape the container.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// Socket-activation fds the runtime received (LISTEN_FDS for our own pid).
    pub listen_fds: u32,
}

#[derive(Debug)]
pub struct Plan {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs_path: PathBuf,
    pub spec: Spec,
    pub ns: NamespacePlan,
    pub uid_map: Option<String>,
    pub gid_map: Option<String>,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
    pub rootfs: RootfsPlan,
    pub process: ProcessPlan,
    pub keyring: Option<CString>,
}

/// A process to run in a running container (`exec`).
#[derive(Debug)]
pub struct ExecPlan {
    pub ns: NamespacePlan,
    pub process: ProcessPlan,
}

/// Plans `process` for the container whose config is `spec` and whose process is `init_pid`.
pub fn build_exec(
    spec: &Spec,
    process: &Process,
    init_pid: i32,
    extra_fds: u32,
) -> Result<ExecPlan, PlanError> {
    let linux = spec.linux().clone().unwrap_or_default();
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    let lsm = crate::lsm::plan(
        process.apparmor_profile().as_deref(),
        process.selinux_label().as_deref(),
        None,
        || crate::lsm::LsmHost::probe(Path::new("/")),
    )?;
    let mut process = plan_process(process, &linux)?;
    process.lsm = lsm;
    process.extra_fds = extra_fds;
    Ok(ExecPlan {
        ns: namespaces::exec_plan(&namespaces, init_pid),
        process,
    })
}

pub struct PlanInput<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub spec: Spec,
    pub opts: &'a CreateOptions,
    /// Whether the runtime can clone straight into the cgroup (cgroup v2).
    pub clone_into_cgroup: bool,
    pub cgroup_view: rootfs::CgroupView,
}

pub fn build(input: PlanInput<'_>) -> Result<Plan, PlanError> {
    let PlanInput {
        id,
        bundle,
        spec,
        opts,
        clone_into_cgroup,
        cgroup_view,
    } = input;
    let linux = spec.linux().clone().unwrap_or_default();
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    let ns = namespaces::plan(
        &namespaces,
        linux.time_offsets().as_ref(),
        clone_into_cgroup,
    )?;

    let user_ns = ns.new_user;
    let (uid_map, gid_map) = match (linux.uid_mappings(), linux.gid_mappings()) {
        (Some(u), Some(g)) if user_ns && !u.is_empty() && !g.is_empty() => {
            (Some(namespaces::id_map(u)), Some(namespaces::id_map(g)))
        }
        _ if user_ns => return Err(PlanError::NoMappings),
        (Some(u), _) if !u.is_empty() && !has_userns(&namespaces) => {
            return Err(PlanError::MappingsWithoutUserNs)
        }
        _ => (None, None),
    };

    let uts = ns.has_new(nix::sched::CloneFlags::CLONE_NEWUTS)
        || ns
            .joins
            .iter()
            .any(|j| j.kind == nix::sched::CloneFlags::CLONE_NEWUTS);
    let hostname = nonempty(spec.hostname().as_deref());
    let domainname = nonempty(spec.domainname().as_deref());
    if (hostname.is_some() || domainname.is_some())
        && !ns.has_new(nix::sched::CloneFlags::CLONE_NEWUTS)
    {
        // Setting it in a joined or the host's UTS namespace would change someone else's name.
        let _ = uts;
        return Err(PlanError::HostnameWithoutUts);
    }

    let root = spec.root().clone().unwrap_or_default();
    let rootfs_path = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let process = spec.process().as_ref().ok_or(PlanError::NoProcess)?;
    let mount_label = linux.mount_label().as_deref().filter(|l| !l.is_empty());
    let lsm = crate::lsm::plan(
        process.apparmor_profile().as_deref(),
        process.selinux_label().as_deref(),
        mount_label,
        || crate::lsm::LsmHost::probe(Path::new("/")),
    )?;
    let rootfs = rootfs::plan(
        &spec,
        &rootfs_path,
        RootfsOptions {
            no_pivot: opts.no_pivot,
            new_user_ns: user_ns,
            new_cgroup_ns: ns.has_new(nix::sched::CloneFlags::CLONE_NEWCGROUP) || ns.late_cgroup,
            cgroup: cgroup_view,
            bundle: bundle.to_owned(),
            mount_label: mount_label.map(str::to_owned),
        },
    )?;

    let mut process = plan_process(process, &linux)?;
    process.lsm = lsm;
    process.extra_fds = opts.preserve_fds + opts.listen_fds;
    if opts.listen_fds > 0 {
        process.env.push(cstring(
            &format!("LISTEN_FDS={}", opts.listen_fds),
            "process.env",
        )?);
        process.env.push(cstring("LISTEN_PID=1", "process.env")?);
    }

    let keyring = if opts.no_new_keyring {
        None
    } else {
        Some(cstring(&format!("_ses.{id}"), "id")?)
    };

    Ok(Plan {
        id: id.to_owned(),
        bundle: bundle.to_owned(),
        rootfs_path,
        ns,
        uid_map,
        gid_map,
        hostname: hostname.map(|h| cstring(h, "hostname")).transpose()?,
        domainname: domainname.map(|d| cstring(d, "domainname")).transpose()?,
        rootfs,
        process,
        keyring,
        spec,
    })
}

fn has_userns(namespaces: &[oci_spec::runtime::LinuxNamespace]) -> bool {
    namespaces
        .iter()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User)
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

fn cstring(s: &str, field: &'static str) -> Result<CString, PlanError> {
    CString::new(s).map_err(|_| PlanError::Nul { field })
}
