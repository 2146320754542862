//! `linux.resources`, `linux.intelRdt`, `linux.memoryPolicy` and `linux.seccomp`.

use oci_spec::runtime::{
    Linux, LinuxDeviceType, LinuxResources, LinuxSeccomp, LinuxSeccompAction, MemoryPolicyFlagType,
    MemoryPolicyModeType,
};

use super::{invalid, ValidationError};

pub(super) fn check(linux: &Linux) -> Result<(), ValidationError> {
    if let Some(resources) = linux.resources() {
        check_resources(resources)?;
    }
    check_intel_rdt(linux)?;
    check_memory_policy(linux)?;
    if let Some(seccomp) = linux.seccomp() {
        check_seccomp(seccomp)?;
    }
    Ok(())
}

/// A list like "0-3,7" (cpus, memory nodes); spaces around items are tolerated.
pub fn is_valid_id_list(list: &str) -> bool {
    let number = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u32>().is_ok()
    };
    list.split(',')
        .all(|item| match item.trim().split_once('-') {
            Some((a, b)) => {
                number(a) && number(b) && a.parse::<u32>().ok() <= b.parse::<u32>().ok()
            }
            None => number(item.trim()),
        })
}

fn check_resources(res: &LinuxResources) -> Result<(), ValidationError> {
    const F: &str = "linux.resources";
    for (i, rule) in res.devices().iter().flatten().enumerate() {
        if matches!(rule.typ(), Some(LinuxDeviceType::U | LinuxDeviceType::P)) {
            return Err(invalid(
                format!("{F}.devices[{i}].type"),
                "device rule type must be a, b or c",
            ));
        }
        let access = rule.access().as_deref().unwrap_or_default();
        if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(invalid(
                format!("{F}.devices[{i}].access"),
                format!("access {access:?} may only contain r, w and m"),
            ));
        }
    }
    if let Some(memory) = res.memory() {
        if let (Some(limit), Some(swap)) = (memory.limit(), memory.swap()) {
            if limit > 0 && swap > 0 && swap < limit {
                return Err(invalid(
                    format!("{F}.memory.swap"),
                    format!("memory+swap limit {swap} should be >= memory limit {limit}"),
                ));
            }
        }
        if let Some(swappiness) = memory.swappiness().filter(|s| *s > 100) {
            return Err(invalid(
                format!("{F}.memory.swappiness"),
                format!("invalid value:{swappiness}. valid memory swappiness range is 0-100"),
            ));
        }
    }
    if let Some(cpu) = res.cpu() {
        if let (Some(quota), Some(burst)) = (cpu.quota(), cpu.burst()) {
            if quota > 0 && burst > quota.unsigned_abs() {
                return Err(invalid(
                    format!("{F}.cpu.burst"),
                    format!("burst {burst} must not be larger than quota {quota}"),
                ));
            }
        }
        for (name, list) in [("cpus", cpu.cpus()), ("mems", cpu.mems())] {
            if let Some(list) = list
                .as_deref()
                .filter(|l| !l.is_empty() && !is_valid_id_list(l))
            {
                return Err(invalid(
                    format!("{F}.cpu.{name}"),
                    format!("{list:?} is not a list like \"0-3,7\""),
                ));
            }
        }
    }
    for (i, limit) in res.hugepage_limits().iter().flatten().enumerate() {
        let size = limit.page_size();
        let digits = size
            .strip_suffix("KB")
            .or(size.strip_suffix("MB"))
            .or(size.strip_suffix("GB"));
        let valid = digits.is_some_and(|d| {
            !d.is_empty() && !d.starts_with('0') && d.bytes().all(|b| b.is_ascii_digit())
        });
        if !valid {
            return Err(invalid(
                format!("{F}.hugepageLimits[{i}].pageSize"),
                format!("pageSize {size:?} is not of the form <size><KB|MB|GB>, like 2MB"),
            ));
        }
    }
    if let Some(block_io) = res.block_io() {
        for (i, dev) in block_io.weight_device().iter().flatten().enumerate() {
            if dev.weight().is_none() && dev.leaf_weight().is_none() {
                return Err(invalid(
                    format!("{F}.blockIO.weightDevice[{i}]"),
                    "at least one of weight and leafWeight is required",
                ));
            }
        }
    }
    if let Some(rdma) = res.rdma() {
        let mut names: Vec<_> = rdma.keys().collect();
        names.sort();
        for name in names {
            let entry = &rdma[name];
            if entry.hca_handles().is_none() && entry.hca_objects().is_none() {
                return Err(invalid(
                    format!("{F}.rdma.{name}"),
                    "at least one of hcaHandles and hcaObjects is required",
                ));
            }
        }
    }
    if let Some(unified) = res.unified() {
        let mut keys: Vec<_> = unified.keys().collect();
        keys.sort();
        for key in keys {
            if key.contains('/') {
                return Err(invalid(
                    format!("{F}.unified"),
                    format!("unified resource {key:?} must be a file name (no slashes)"),
                ));
            }
            if !key.contains('.') || key.starts_with('.') {
                return Err(invalid(
                    format!("{F}.unified"),
                    format!("unified resource {key:?} is not of the form <controller>.<file>"),
                ));
            }
        }
    }
    Ok(())
}

fn check_intel_rdt(linux: &Linux) -> Result<(), ValidationError> {
    let Some(rdt) = linux.intel_rdt() else {
        return Ok(());
    };
    const F: &str = "linux.intelRdt";
    if let Some(clos) = rdt.clos_id().as_deref() {
        // "/" is the root CLOS (spec 1.3); anything else must be a single directory name.
        if clos != "/" && (clos == "." || clos == ".." || clos.contains('/')) {
            return Err(invalid(
                format!("{F}.closID"),
                format!("invalid intelRdt.ClosID {clos:?}"),
            ));
        }
    }
    if let Some(schema) = rdt.mem_bw_schema() {
        if !schema.starts_with("MB:") || schema.contains('\n') {
            return Err(invalid(
                format!("{F}.memBwSchema"),
                "memBwSchema must start with \"MB:\" and must not contain newlines",
            ));
        }
    }
    for (i, line) in rdt.schemata().iter().flatten().enumerate() {
        if line.contains('\n') {
            return Err(invalid(
                format!("{F}.schemata[{i}]"),
                "schemata lines must not contain newlines",
            ));
        }
    }
    Ok(())
}

fn check_memory_policy(linux: &Linux) -> Result<(), ValidationError> {
    let Some(policy) = linux.memory_policy() else {
        return Ok(());
    };
    const F: &str = "linux.memoryPolicy";
    let nodes = policy.nodes().as_deref().unwrap_or_default();
    let mode = policy.mode();
    use MemoryPolicyModeType as Mode;
    // set_mempolicy(2): these modes take no nodemask, those need a non-empty one.
    match mode {
        Mode::MpolDefault | Mode::MpolLocal if !nodes.is_empty() => {
            return Err(invalid(
                format!("{F}.nodes"),
                format!("{mode} takes no nodes"),
            ));
        }
        Mode::MpolBind
        | Mode::MpolInterleave
        | Mode::MpolWeightedInterleave
        | Mode::MpolPreferredMany
            if nodes.is_empty() =>
        {
            return Err(invalid(
                format!("{F}.nodes"),
                format!("{mode} needs at least one node"),
            ));
        }
        _ => {}
    }
    if !nodes.is_empty() && !is_valid_id_list(nodes) {
        return Err(invalid(
            format!("{F}.nodes"),
            format!("{nodes:?} is not a list like \"0-3,7\""),
        ));
    }
    let flags = policy.flags().as_deref().unwrap_or_default();
    if flags.contains(&MemoryPolicyFlagType::MpolFStaticNodes)
        && flags.contains(&MemoryPolicyFlagType::MpolFRelativeNodes)
    {
        return Err(invalid(
            format!("{F}.flags"),
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES cannot be used together",
        ));
    }
    Ok(())
}

fn takes_errno(action: LinuxSeccompAction) -> bool {
    matches!(
        action,
        LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
    )
}

fn check_seccomp(seccomp: &LinuxSeccomp) -> Result<(), ValidationError> {
    const F: &str = "linux.seccomp";
    let default = seccomp.default_action();
    if seccomp.default_errno_ret().is_some() && !takes_errno(default) {
        return Err(invalid(
            format!("{F}.defaultErrnoRet"),
            format!("defaultAction {default} does not take an errno"),
        ));
    }
    if default == LinuxSeccompAction::ScmpActNotify {
        return Err(invalid(
            format!("{F}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be used as the default action",
        ));
    }
    let listener = seccomp
        .listener_path()
        .as_ref()
        .is_some_and(|p| !p.as_os_str().is_empty());
    if seccomp
        .listener_metadata()
        .as_ref()
        .is_some_and(|m| !m.is_empty())
        && !listener
    {
        return Err(invalid(
            format!("{F}.listenerMetadata"),
            "listenerMetadata must not be set without listenerPath",
        ));
    }
    for (i, rule) in seccomp.syscalls().iter().flatten().enumerate() {
        let field = format!("{F}.syscalls[{i}]");
        if rule.names().is_empty() || rule.names().iter().any(String::is_empty) {
            return Err(invalid(
                format!("{field}.names"),
                "names must contain at least one non-empty syscall name",
            ));
        }
        if rule.errno_ret().is_some() && !takes_errno(rule.action()) {
            return Err(invalid(
                format!("{field}.errnoRet"),
                format!("action {} does not take an errno", rule.action()),
            ));
        }
        if rule.action() == LinuxSeccompAction::ScmpActNotify && !listener {
            return Err(invalid(
                format!("{field}.action"),
                "SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath",
            ));
        }
        for (j, arg) in rule.args().iter().flatten().enumerate() {
            if arg.index() > 5 {
                return Err(invalid(
                    format!("{field}.args[{j}].index"),
                    format!(
                        "syscall argument index {} is out of range 0 to 5",
                        arg.index()
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "resources_tests.rs"]
mod tests;
