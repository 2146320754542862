//! The process part of a plan: what the container process sets up on itself between its
//! namespaces and execve (ids, capabilities, rlimits, scheduling, seccomp).

use std::ffi::CString;
use std::path::PathBuf;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{
    IOPriorityClass, LinuxCapabilities, LinuxPersonalityDomain, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, PosixRlimit, Process,
};

use super::{cstring, PlanError};
use crate::sys::sched::SchedAttr;

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
    /// linux.memoryPolicy, set with set_mempolicy(2) (inherited across execve).
    pub mempolicy: Option<super::mempolicy::MemPolicy>,
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
    /// AppArmor profile and SELinux label taken at execve.
    pub lsm: crate::lsm::LsmPlan,
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

pub(super) fn plan_process(
    p: &Process,
    linux: &oci_spec::runtime::Linux,
) -> Result<ProcessPlan, PlanError> {
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
        mempolicy: linux
            .memory_policy()
            .as_ref()
            .map(super::mempolicy::plan_mempolicy)
            .transpose()?,
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
        // Set by the caller, which checks it against the host.
        lsm: crate::lsm::LsmPlan::default(),
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
