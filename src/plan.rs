//! Spec -> Plan: every decision the container process needs, made before the clone.
//!
//! The child only executes a plan; it never parses the config. Everything that can be wrong
//! in the config is found here, in the runtime, where the error can be reported plainly.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{
    IOPriorityClass, LinuxCapabilities, LinuxPersonalityDomain, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, PosixRlimit, Process, Spec,
};

use crate::namespaces::{self, NamespaceError, NamespacePlan};
use crate::rootfs::{self, RootfsError, RootfsOptions, RootfsPlan};
use crate::sys::sched::SchedAttr;

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
    #[error("unknown capability {0:?}")]
    UnknownCapability(String),
    #[error("unable to set hostname without a private UTS namespace")]
    HostnameWithoutUts,
    #[error("user namespaces enabled, but no user mapping found")]
    NoMappings,
    #[error("user mappings found, but no user namespace requested")]
    MappingsWithoutUserNs,
    #[error("{0}")]
    Lsm(String),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
}

/// LSM settings are refused rather than ignored until cella applies them: a profile or label
/// a user asked for must never be silently dropped. Without the LSM on the host, runc refuses
/// them too, with these words.
fn check_lsm(
    apparmor: Option<&str>,
    selinux: Option<&str>,
    mount_label: Option<&str>,
) -> Result<(), PlanError> {
    let apparmor_on = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    let selinux_on = Path::new("/sys/fs/selinux/enforce").exists();
    if let Some(profile) = apparmor.filter(|p| !p.is_empty()) {
        return Err(PlanError::Lsm(if apparmor_on {
            format!("apparmor profile {profile:?}: applying AppArmor profiles is not supported by cella yet")
        } else {
            format!("apparmor profile {profile:?} is set but AppArmor is not enabled on this host")
        }));
    }
    if selinux.is_some_and(|l| !l.is_empty()) || mount_label.is_some_and(|l| !l.is_empty()) {
        return Err(PlanError::Lsm(if selinux_on {
            "selinux labels are not supported by cella yet".to_owned()
        } else {
            "selinux label is specified in config, but selinux is disabled or not supported"
                .to_owned()
        }));
    }
    Ok(())
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

#[derive(Debug, Clone, Default)]
pub struct ProcessPlan {
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    /// $PATH of the container's environment, for looking up a bare program name.
    pub path_var: Option<String>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privs: bool,
    pub caps: Option<CapSets>,
    pub oom_score_adj: Option<i32>,
    pub personality: Option<u64>,
    pub scheduler: Option<SchedAttr>,
    pub ioprio: Option<i32>,
    /// fds 3.. that survive into the container: LISTEN_FDS + --preserve-fds.
    pub extra_fds: u32,
    /// process.terminal: a pty in the container, its master handed to the runtime.
    pub terminal: bool,
    /// process.consoleSize as (rows, columns).
    pub console_size: Option<(u16, u16)>,
    /// linux.seccomp, compiled; exec'd processes get the container's filter too.
    pub seccomp: Option<crate::seccomp::SeccompProgram>,
}

impl ProcessPlan {
    /// Whether the seccomp filter must go in before the user switch rather than just before
    /// execve: without no_new_privs the kernel wants CAP_SYS_ADMIN, which the process keeps
    /// only when it stays root with all capabilities or its effective set lists it.
    pub fn seccomp_before_user_switch(&self) -> bool {
        let keeps_sys_admin = match &self.caps {
            Some(c) => c.effective.contains(&Capability::CAP_SYS_ADMIN),
            None => self.uid == 0,
        };
        self.seccomp.is_some() && !self.no_new_privs && !keeps_sys_admin
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: libc::__rlimit_resource_t,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

impl CapSets {
    pub fn get(&self, set: CapSet) -> &CapsHashSet {
        match set {
            CapSet::Bounding => &self.bounding,
            CapSet::Effective => &self.effective,
            CapSet::Permitted => &self.permitted,
            CapSet::Inheritable => &self.inheritable,
            CapSet::Ambient => &self.ambient,
        }
    }
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
    check_lsm(
        process.apparmor_profile().as_deref(),
        process.selinux_label().as_deref(),
        None,
    )?;
    let mut process = plan_process(process, &linux)?;
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
    let rootfs = rootfs::plan(
        &spec,
        &rootfs_path,
        RootfsOptions {
            no_pivot: opts.no_pivot,
            new_user_ns: user_ns,
            new_cgroup_ns: ns.has_new(nix::sched::CloneFlags::CLONE_NEWCGROUP) || ns.late_cgroup,
            cgroup: cgroup_view,
            bundle: bundle.to_owned(),
        },
    )?;

    let process = spec.process().as_ref().ok_or(PlanError::NoProcess)?;
    check_lsm(
        process.apparmor_profile().as_deref(),
        process.selinux_label().as_deref(),
        linux.mount_label().as_deref(),
    )?;
    let mut process = plan_process(process, &linux)?;
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

fn plan_process(p: &Process, linux: &oci_spec::runtime::Linux) -> Result<ProcessPlan, PlanError> {
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(PlanError::NoArgs);
    }
    let env = dedup_env(p.env().as_deref().unwrap_or_default());
    let path_var = env
        .iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .map(str::to_owned);
    let user = p.user();
    Ok(ProcessPlan {
        args: args
            .iter()
            .map(|a| cstring(a, "process.args"))
            .collect::<Result<_, _>>()?,
        env: env
            .iter()
            .map(|e| cstring(e, "process.env"))
            .collect::<Result<_, _>>()?,
        path_var,
        cwd: p.cwd().clone(),
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        umask: user.umask(),
        rlimits: p
            .rlimits()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(rlimit)
            .collect::<Result<_, _>>()?,
        no_new_privs: p.no_new_privileges().unwrap_or(false),
        caps: p.capabilities().as_ref().map(cap_sets).transpose()?,
        oom_score_adj: p.oom_score_adj(),
        personality: linux.personality().as_ref().map(|per| match per.domain() {
            LinuxPersonalityDomain::PerLinux => 0x0000,
            LinuxPersonalityDomain::PerLinux32 => 0x0008,
        }),
        scheduler: p.scheduler().as_ref().map(sched_attr),
        ioprio: p.io_priority().as_ref().map(|io| {
            let class = match io.class() {
                IOPriorityClass::IoprioClassRt => 1,
                IOPriorityClass::IoprioClassBe => 2,
                IOPriorityClass::IoprioClassIdle => 3,
            };
            (class << 13) | i32::try_from(io.priority()).unwrap_or(0)
        }),
        extra_fds: 0,
        terminal: p.terminal().unwrap_or(false),
        console_size: p.console_size().as_ref().map(|b| {
            (
                u16::try_from(b.height()).unwrap_or(u16::MAX),
                u16::try_from(b.width()).unwrap_or(u16::MAX),
            )
        }),
        seccomp: linux
            .seccomp()
            .as_ref()
            .map(crate::seccomp::compile)
            .transpose()?,
    })
}

/// One entry per variable, as runc makes it: the last value wins, in the first one's place
/// (a program's getenv finds the first match, so a later override must not come second).
fn dedup_env(env: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for kv in env {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        match out
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => slot.clone_from(kv),
            None => out.push(kv.clone()),
        }
    }
    out
}

/// The kernel's resource number for an OCI rlimit type.
fn rlimit(r: &PosixRlimit) -> Result<Rlimit, PlanError> {
    let name = serde_json::to_value(r.typ())
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let resource = match name.as_str() {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return Err(PlanError::UnknownRlimit(name)),
    };
    Ok(Rlimit {
        resource,
        soft: r.soft(),
        hard: r.hard(),
    })
}

/// Highest capability the running kernel knows; names beyond it are dropped with a warning, as
/// runc does, so a config written for a newer kernel still runs.
fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

fn cap_sets(c: &LinuxCapabilities) -> Result<CapSets, PlanError> {
    let last = last_cap();
    let conv = |set: &Option<oci_spec::runtime::Capabilities>| -> Result<CapsHashSet, PlanError> {
        let mut out = CapsHashSet::new();
        for cap in set.iter().flatten() {
            let name = cap.to_string();
            let name = if name.starts_with("CAP_") {
                name
            } else {
                format!("CAP_{name}")
            };
            let parsed: Capability = name
                .parse()
                .map_err(|_| PlanError::UnknownCapability(name.clone()))?;
            if parsed.index() > last {
                log::warn!("capability {name} is not known to this kernel; ignored");
                continue;
            }
            out.insert(parsed);
        }
        Ok(out)
    };
    Ok(CapSets {
        bounding: conv(c.bounding())?,
        effective: conv(c.effective())?,
        permitted: conv(c.permitted())?,
        inheritable: conv(c.inheritable())?,
        ambient: conv(c.ambient())?,
    })
}

fn sched_attr(s: &oci_spec::runtime::Scheduler) -> SchedAttr {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let flags = s.flags().iter().flatten().fold(0u64, |acc, f| {
        acc | match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        }
    });
    SchedAttr {
        sched_policy: policy,
        sched_flags: flags,
        sched_nice: s.nice().unwrap_or(0),
        sched_priority: u32::try_from(s.priority().unwrap_or(0)).unwrap_or(0),
        sched_runtime: s.runtime().unwrap_or(0),
        sched_deadline: s.deadline().unwrap_or(0),
        sched_period: s.period().unwrap_or(0),
        ..SchedAttr::default()
    }
}

#[cfg(test)]
mod tests {
    use super::{dedup_env, CapSets, ProcessPlan};
    use caps::Capability;

    #[test]
    fn seccomp_goes_in_early_only_when_the_user_switch_would_forbid_it() {
        let filter = crate::seccomp::SeccompProgram {
            bpf: vec![0; 8],
            flags: 0,
            has_notify: false,
        };
        let root = ProcessPlan {
            seccomp: Some(filter),
            ..ProcessPlan::default()
        };
        // Root keeping every capability, or no_new_privs: just before execve.
        assert!(!root.seccomp_before_user_switch());
        let nnp_user = ProcessPlan {
            uid: 1000,
            no_new_privs: true,
            ..root.clone()
        };
        assert!(!nnp_user.seccomp_before_user_switch());
        // A user without CAP_SYS_ADMIN and without no_new_privs: before the switch.
        let user = ProcessPlan {
            uid: 1000,
            ..root.clone()
        };
        assert!(user.seccomp_before_user_switch());
        let mut caps = CapSets::default();
        caps.effective.insert(Capability::CAP_KILL);
        let root_few_caps = ProcessPlan {
            caps: Some(caps.clone()),
            ..root.clone()
        };
        assert!(root_few_caps.seccomp_before_user_switch());
        caps.effective.insert(Capability::CAP_SYS_ADMIN);
        let user_admin = ProcessPlan {
            uid: 1000,
            caps: Some(caps),
            ..root.clone()
        };
        assert!(!user_admin.seccomp_before_user_switch());
        let no_filter = ProcessPlan {
            uid: 1000,
            ..ProcessPlan::default()
        };
        assert!(!no_filter.seccomp_before_user_switch());
    }

    #[test]
    fn env_keeps_the_last_value_in_the_first_place() {
        let env: Vec<String> = ["TERM=xterm", "A=1", "TERM=dumb", "A=2", "B"]
            .map(String::from)
            .into();
        assert_eq!(dedup_env(&env), ["TERM=dumb", "A=2", "B"]);
    }
}
