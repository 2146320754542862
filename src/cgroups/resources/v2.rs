//! cgroup v2 files (unified hosts), with runc's conversions from the v1-shaped spec values.

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::v1::{check_weight, pids_max};
use super::{check_page_size, invalid, rdma_writes, CgroupWrite, ResourcePlan};
use crate::cgroups::CgroupError;

/// The default CFS period, written with a quota when the spec gives none (as runc).
const DEFAULT_PERIOD: u64 = 100_000;

pub fn plan(res: &LinuxResources, plan: &mut ResourcePlan) -> Result<(), CgroupError> {
    let w = &mut plan.writes;
    if let Some(pids) = res.pids() {
        w.push(CgroupWrite::new("", "pids.max", pids_max(pids.limit())));
    }
    if let Some(memory) = res.memory() {
        memory_writes(memory, w, &mut plan.ignored)?;
    }
    if let Some(blkio) = res.block_io() {
        io_writes(blkio, w, &mut plan.ignored)?;
    }
    if let Some(cpu) = res.cpu() {
        cpu_writes(cpu, w, &mut plan.ignored);
        if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
            w.push(CgroupWrite::new("", "cpuset.cpus", cpus));
        }
        if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
            w.push(CgroupWrite::new("", "cpuset.mems", mems));
        }
    }
    for limit in res.hugepage_limits().iter().flatten() {
        check_page_size(limit.page_size())?;
        let value = match limit.limit() {
            -1 => "max".to_string(),
            n if n < 0 => return Err(invalid("hugepageLimits.limit", n.to_string())),
            n => n.to_string(),
        };
        let size = limit.page_size();
        w.push(CgroupWrite::new("", format!("hugetlb.{size}.max"), &value));
        w.push(CgroupWrite::new("", format!("hugetlb.{size}.rsvd.max"), &value).or_skip());
    }
    if let Some(net) = res.network() {
        if net.class_id().is_some() || net.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            plan.ignored
                .push("network (net_cls/net_prio are cgroup v1 only)".into());
        }
    }
    w.extend(rdma_writes(res, "")?);
    // Last, so that explicit v2 settings win over converted ones, as in runc.
    if let Some(unified) = res.unified() {
        let mut keys: Vec<_> = unified.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in keys {
            let plain = !key.is_empty() && key != "." && key != "..";
            if !plain || key.contains('/') || key.contains('\0') {
                return Err(invalid(
                    "unified",
                    format!("key {key:?} is not a file name"),
                ));
            }
            w.push(CgroupWrite::new("", key.as_str(), value));
        }
    }
    Ok(())
}

/// runc: 0 is "unset" (nothing written), -1 is "max".
fn num(value: i64) -> Option<String> {
    match value {
        0 => None,
        -1 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

/// The spec's `swap` is memory+swap (v1); v2's `memory.swap.max` is swap alone.
pub fn swap_v2(swap: i64, memory: i64) -> Result<i64, CgroupError> {
    let err = |reason: &str| invalid("memory.swap", reason);
    match (swap, memory) {
        // Unlimited memory, swap unset: both unlimited, as on v1.
        (0, -1) => Ok(-1),
        (-1 | 0, _) => Ok(swap),
        (_, -1) => Ok(swap),
        (_, 0) => Err(err("a swap limit needs a memory limit")),
        (_, m) if m < 0 => Err(invalid("memory.limit", m.to_string())),
        (s, m) if s < m => Err(err("memory+swap limit is below the memory limit")),
        (s, m) => Ok(s - m),
    }
}

fn memory_writes(
    m: &LinuxMemory,
    w: &mut Vec<CgroupWrite>,
    ignored: &mut Vec<String>,
) -> Result<(), CgroupError> {
    let limit = m.limit().unwrap_or(0);
    let spec_swap = m.swap().unwrap_or(0);
    let swap = swap_v2(spec_swap, limit)?;
    // swap == limit: no swap at all, "0" (num() would read 0 as unset).
    let swap_value = match num(swap) {
        None if spec_swap > 0 => Some("0".to_string()),
        other => other,
    };
    if let Some(value) = swap_value {
        // Without swap accounting the file is absent: "no limit" and "no swap" then hold
        // anyway, any other value cannot be applied.
        let write = CgroupWrite::new("", "memory.swap.max", &value);
        w.push(if value == "max" || value == "0" {
            write.or_skip()
        } else {
            write
        });
    }
    if let Some(value) = num(limit) {
        let write = CgroupWrite::new("", "memory.max", value);
        // v1's kernel refuses a limit below the usage; v2 would invoke the OOM killer.
        w.push(if m.check_before_update() == Some(true) {
            write.not_below("memory.current")
        } else {
            write
        });
    }
    if let Some(value) = m.reservation().and_then(num) {
        w.push(CgroupWrite::new("", "memory.low", value));
    }
    let v1_only = [
        ("memory.kernel", m.kernel().is_some_and(|k| k != 0)),
        ("memory.kernelTCP", m.kernel_tcp().is_some_and(|k| k != 0)),
        ("memory.swappiness", m.swappiness().is_some()),
        (
            "memory.disableOOMKiller",
            m.disable_oom_killer() == Some(true),
        ),
    ];
    for (name, set) in v1_only {
        if set {
            ignored.push(format!("{name} (cgroup v1 only)"));
        }
    }
    Ok(())
}

/// cpu.shares [2, 262144] to cpu.weight [1, 10000], linearly (runc 1.1). Out-of-range shares
/// are clamped first, as the v1 kernel clamps them.
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// blkio.weight [10, 1000] to io.weight [1, 10000], linearly (runc).
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight) - 10) * 9999 / 990
}

fn cpu_writes(c: &LinuxCpu, w: &mut Vec<CgroupWrite>, ignored: &mut Vec<String>) {
    // Weight before idle: the kernel refuses a weight for an idle group, while idle set
    // afterwards simply supersedes it.
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        w.push(CgroupWrite::new("", "cpu.weight", shares_to_weight(shares)));
    }
    if let Some(idle) = c.idle() {
        w.push(CgroupWrite::new("", "cpu.idle", idle));
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        let max = if quota > 0 {
            quota.to_string()
        } else {
            "max".to_string()
        };
        let period = if period == 0 { DEFAULT_PERIOD } else { period };
        w.push(CgroupWrite::new("", "cpu.max", format!("{max} {period}")));
    }
    // After cpu.max: the burst is bounded by the quota.
    if let Some(burst) = c.burst() {
        w.push(CgroupWrite::new("", "cpu.max.burst", burst));
    }
    if c.realtime_period().is_some_and(|p| p != 0) || c.realtime_runtime().is_some_and(|r| r != 0) {
        ignored.push("cpu.realtimePeriod/realtimeRuntime (cgroup v1 only)".into());
    }
}

fn io_writes(
    b: &LinuxBlockIo,
    w: &mut Vec<CgroupWrite>,
    ignored: &mut Vec<String>,
) -> Result<(), CgroupError> {
    // With the BFQ scheduler, io.bfq.weight takes the v1 weight as is; otherwise io.weight
    // takes it converted.
    if let Some(weight) = b.weight().filter(|w| *w != 0) {
        let weight = check_weight("blockIO.weight", weight)?;
        let io = CgroupWrite::new("", "io.weight", blkio_to_io_weight(weight));
        w.push(CgroupWrite::new("", "io.bfq.weight", weight).or_instead(io));
    }
    if b.leaf_weight().is_some_and(|l| l != 0) {
        ignored.push("blockIO.leafWeight (cgroup v1 only)".into());
    }
    for dev in b.weight_device().iter().flatten() {
        if let Some(weight) = dev.weight().filter(|w| *w != 0) {
            let weight = check_weight("blockIO.weightDevice.weight", weight)?;
            // Per-device weights exist only with BFQ.
            let line = format!("{}:{} {weight}", dev.major(), dev.minor());
            w.push(CgroupWrite::new("", "io.bfq.weight", line));
        }
        if dev.leaf_weight().is_some_and(|l| l != 0) {
            ignored.push("blockIO.weightDevice.leafWeight (cgroup v1 only)".into());
        }
    }
    let throttles = [
        (b.throttle_read_bps_device(), "rbps"),
        (b.throttle_write_bps_device(), "wbps"),
        (b.throttle_read_iops_device(), "riops"),
        (b.throttle_write_iops_device(), "wiops"),
    ];
    for (devices, key) in throttles {
        for dev in devices.iter().flatten() {
            // v1 takes 0 as "no limit"; io.max refuses 0 and spells that "max".
            let rate = match dev.rate() {
                0 => "max".to_string(),
                r => r.to_string(),
            };
            let line = format!("{}:{} {key}={rate}", dev.major(), dev.minor());
            w.push(CgroupWrite::new("", "io.max", line));
        }
    }
    Ok(())
}
