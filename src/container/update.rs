//! `update`: change the resource limits of a live container and remember them.
//!
//! runc's contract (runc 1.1 `update.go`), which engines rely on: the request is a
//! `LinuxResources` in which zero (or an empty string) means "leave as it is"; only memory
//! (limit, reservation, swap), cpu (shares, quota, period, realtime period/runtime, cpus,
//! mems), blockIO.weight, pids.limit and unified are updated. When only one of cpu quota and
//! period is given, the other keeps its recorded value (v2's `cpu.max` takes both). The merged
//! result replaces `linux.resources` in the record, so `state.json` reflects it.

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use super::{Container, ContainerError, Status};
use crate::cgroups::{plan_resources, CgroupError, CgroupVersion, CgroupWrite, Manager};

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("container not running")]
    NotRunning,
    #[error("container {0} has no cgroup to update")]
    NoCgroup(String),
    #[error("unable to set memory limit to {limit} (current usage: {usage}, peak usage: {peak})")]
    MemoryBusy {
        limit: String,
        usage: u64,
        peak: u64,
    },
}

/// What an update request changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdatePlan {
    /// Only the settings to write now.
    pub delta: LinuxResources,
    /// The container's resources after the update, to record.
    pub merged: LinuxResources,
    /// Request fields runc's update ignores (named for a warning).
    pub ignored: Vec<&'static str>,
}

/// Splits `req` into what to write and what to record. Pure.
pub fn plan_update(req: &LinuxResources, current: &LinuxResources) -> UpdatePlan {
    let mut delta = LinuxResources::default();
    let mut merged = current.clone();
    let mut ignored = Vec::new();

    if let Some(m) = req.memory() {
        let limit = m.limit().filter(|v| *v != 0);
        let reservation = m.reservation().filter(|v| *v != 0);
        let swap = m.swap().filter(|v| *v != 0);
        if limit.is_some() || reservation.is_some() || swap.is_some() {
            let mut d = LinuxMemory::default();
            let mut all = merged.memory().unwrap_or_default();
            if let Some(v) = limit {
                d.set_limit(Some(v));
                all.set_limit(Some(v));
            }
            if let Some(v) = reservation {
                d.set_reservation(Some(v));
                all.set_reservation(Some(v));
            }
            if let Some(v) = swap {
                d.set_swap(Some(v));
                all.set_swap(Some(v));
            }
            // memory.checkBeforeUpdate: the request's, else the container's own (as runc).
            let check = m.check_before_update().or(all.check_before_update());
            d.set_check_before_update(check);
            all.set_check_before_update(check);
            delta.set_memory(Some(d));
            merged.set_memory(Some(all));
        }
        if m.kernel().is_some_and(|v| v != 0) || m.kernel_tcp().is_some_and(|v| v != 0) {
            ignored.push("memory.kernel/kernelTCP");
        }
        if m.swappiness().is_some() || m.disable_oom_killer().is_some() {
            ignored.push("memory.swappiness/disableOOMKiller");
        }
    }
    if let Some(c) = req.cpu() {
        if let Some((d, all)) = cpu_update(c, merged.cpu().clone().unwrap_or_default()) {
            delta.set_cpu(Some(d));
            merged.set_cpu(Some(all));
        }
        if c.burst().is_some() || c.idle().is_some() {
            ignored.push("cpu.burst/idle");
        }
    }
    if let Some(b) = req.block_io() {
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            let mut d = LinuxBlockIo::default();
            d.set_weight(Some(w));
            delta.set_block_io(Some(d));
            let mut all = merged.block_io().clone().unwrap_or_default();
            all.set_weight(Some(w));
            merged.set_block_io(Some(all));
        }
        let others = b.leaf_weight().is_some()
            || b.weight_device().is_some()
            || b.throttle_read_bps_device().is_some()
            || b.throttle_write_bps_device().is_some()
            || b.throttle_read_iops_device().is_some()
            || b.throttle_write_iops_device().is_some();
        if others {
            ignored.push("blockIO (all but weight)");
        }
    }
    if let Some(p) = req.pids().filter(|p| p.limit() != 0) {
        let mut d = LinuxPids::default();
        d.set_limit(p.limit());
        delta.set_pids(Some(d));
        merged.set_pids(Some(d));
    }
    if let Some(u) = req.unified().as_ref().filter(|u| !u.is_empty()) {
        delta.set_unified(Some(u.clone()));
        let mut all = merged.unified().clone().unwrap_or_default();
        all.extend(u.iter().map(|(k, v)| (k.clone(), v.clone())));
        merged.set_unified(Some(all));
    }
    let skipped = [
        ("devices", req.devices().is_some()),
        ("hugepageLimits", req.hugepage_limits().is_some()),
        ("network", req.network().is_some()),
        ("rdma", req.rdma().is_some()),
    ];
    ignored.extend(
        skipped
            .iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| *name),
    );
    UpdatePlan {
        delta,
        merged,
        ignored,
    }
}

/// The cpu part: (what to write, the merged cpu settings), or `None` when nothing changes.
fn cpu_update(c: &LinuxCpu, mut all: LinuxCpu) -> Option<(LinuxCpu, LinuxCpu)> {
    let mut d = LinuxCpu::default();
    let mut changed = false;
    if let Some(v) = c.shares().filter(|v| *v != 0) {
        d.set_shares(Some(v));
        all.set_shares(Some(v));
        changed = true;
    }
    let period = c.period().filter(|v| *v != 0);
    let quota = c.quota().filter(|v| *v != 0);
    if period.is_some() || quota.is_some() {
        if let Some(p) = period {
            all.set_period(Some(p));
        }
        if let Some(q) = quota {
            all.set_quota(Some(q));
        }
        // The recorded other half goes with it: v2 writes "quota period" in one file.
        d.set_period(all.period());
        d.set_quota(all.quota());
        changed = true;
    }
    if let Some(v) = c.realtime_period().filter(|v| *v != 0) {
        d.set_realtime_period(Some(v));
        all.set_realtime_period(Some(v));
        changed = true;
    }
    if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
        d.set_realtime_runtime(Some(v));
        all.set_realtime_runtime(Some(v));
        changed = true;
    }
    if let Some(v) = c.cpus().as_ref().filter(|v| !v.is_empty()) {
        d.set_cpus(Some(v.clone()));
        all.set_cpus(Some(v.clone()));
        changed = true;
    }
    if let Some(v) = c.mems().as_ref().filter(|v| !v.is_empty()) {
        d.set_mems(Some(v.clone()));
        all.set_mems(Some(v.clone()));
        changed = true;
    }
    changed.then_some((d, all))
}

const MEMORY_LIMIT: &str = "memory.limit_in_bytes";
const MEMSW_LIMIT: &str = "memory.memsw.limit_in_bytes";

/// v1 refuses memory above memory+swap at every moment, so with both given the order depends
/// on the current limit (as runc): memory+swap first when it grows beyond the current memory
/// limit (or becomes unlimited), memory first otherwise.
pub fn order_v1_memory(writes: &mut [CgroupWrite], current_limit: u64) {
    let find = |ws: &[CgroupWrite], file: &str| {
        ws.iter()
            .position(|w| w.controller == "memory" && w.file == file)
    };
    let (Some(mem), Some(swap)) = (find(writes, MEMORY_LIMIT), find(writes, MEMSW_LIMIT)) else {
        return;
    };
    let swap_value: i64 = writes[swap].value.parse().unwrap_or(0);
    let swap_first = swap_value == -1 || u64::try_from(swap_value).is_ok_and(|s| current_limit < s);
    if swap_first != (swap < mem) {
        writes.swap(mem, swap);
    }
}

pub fn update(c: &mut Container, req: &LinuxResources) -> Result<UpdatePlan, UpdateError> {
    if matches!(c.status(), Status::Stopped | Status::Creating) {
        return Err(UpdateError::NotRunning);
    }
    let cg = c
        .cgroup()
        .ok_or_else(|| UpdateError::NoCgroup(c.id().to_owned()))?;
    let current = c
        .record
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let plan = plan_update(req, &current);
    apply_update(&cg, &plan.delta)?;
    let mut linux = c.record.config.linux().clone().unwrap_or_default();
    linux.set_resources(Some(plan.merged.clone()));
    c.record.config.set_linux(Some(linux));
    c.save()?;
    Ok(plan)
}

/// Writes `delta` (from [`plan_update`]) into the container's cgroup.
pub fn apply_update(cg: &Manager, delta: &LinuxResources) -> Result<(), UpdateError> {
    let mut plan = plan_resources(delta, cg.version())?;
    for what in &plan.ignored {
        log::warn!("{what} is not applied on this host");
    }
    let both = [MEMORY_LIMIT, MEMSW_LIMIT]
        .iter()
        .all(|f| plan.writes.iter().any(|w| w.file == *f));
    if cg.version() == CgroupVersion::V1 && both {
        if let Some(dir) = cg.controller_dir("memory") {
            let limit = crate::cgroups::stats::read_u64(&dir.join(MEMORY_LIMIT))?;
            order_v1_memory(&mut plan.writes, limit);
        }
    }
    apply_writes(cg, &plan.writes)
}

fn os_error(e: &CgroupError) -> Option<i32> {
    match e {
        CgroupError::Write { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

/// Applies in order, with runc's two special cases: a shorter v1 CFS period can be refused
/// (EINVAL) until the new quota is in, so it is retried after the quota; a memory limit
/// below the usage (EBUSY) is reported with the usage. When a write fails, the files already
/// written get their previous values back.
fn apply_writes(cg: &Manager, writes: &[CgroupWrite]) -> Result<(), UpdateError> {
    let mut undo = Vec::new();
    let result = apply_recording(cg, writes, &mut undo);
    if result.is_err() {
        for w in undo.iter().rev() {
            if let Err(e) = cg.apply(std::slice::from_ref(w)) {
                log::warn!("setting back cgroup configs failed: {e}; the recorded resources and the cgroup may differ");
            }
        }
    }
    result
}

fn apply_recording(
    cg: &Manager,
    writes: &[CgroupWrite],
    undo: &mut Vec<CgroupWrite>,
) -> Result<(), UpdateError> {
    let mut period_again = None;
    for (i, w) in writes.iter().enumerate() {
        let before = cg.undo_write(w);
        match cg.apply(std::slice::from_ref(w)) {
            Ok(()) => undo.extend(before),
            Err(e)
                if w.file == "cpu.cfs_period_us"
                    && os_error(&e) == Some(libc::EINVAL)
                    && writes[i + 1..].iter().any(|l| l.file == "cpu.cfs_quota_us") =>
            {
                period_again = Some(w);
            }
            Err(e) if w.file == MEMORY_LIMIT && os_error(&e) == Some(libc::EBUSY) => {
                return Err(memory_busy(cg, w));
            }
            Err(e) => return Err(e.into()),
        }
        if w.file == "cpu.cfs_quota_us" {
            if let Some(p) = period_again.take() {
                let before = cg.undo_write(p);
                cg.apply(std::slice::from_ref(p))?;
                undo.extend(before);
            }
        }
    }
    Ok(())
}

fn memory_busy(cg: &Manager, w: &CgroupWrite) -> UpdateError {
    let read = |name: &str| -> u64 {
        cg.controller_dir("memory")
            .and_then(|d| crate::cgroups::stats::read_u64(&d.join(name)).ok())
            .unwrap_or(0)
    };
    UpdateError::MemoryBusy {
        limit: w.value.clone(),
        usage: read("memory.usage_in_bytes"),
        peak: read("memory.max_usage_in_bytes"),
    }
}

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
