//! cgroup v1 files (legacy and hybrid hosts). The order of writes is the order a fresh cgroup
//! accepts them in (limits start unlimited).

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::{check_page_size, devices, invalid, rdma_writes, CgroupWrite, ResourcePlan};
use crate::cgroups::CgroupError;

pub fn plan(res: &LinuxResources, plan: &mut ResourcePlan) -> Result<(), CgroupError> {
    if res.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(CgroupError::UnifiedOnV1);
    }
    let w = &mut plan.writes;
    if let Some(cpu) = res.cpu() {
        // cpuset first: nothing else depends on it and a bad CPU list should fail early.
        if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
            w.push(CgroupWrite::new("cpuset", "cpuset.cpus", cpus));
        }
        if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
            w.push(CgroupWrite::new("cpuset", "cpuset.mems", mems));
        }
    }
    if res.devices().is_some() {
        w.extend(devices::v1_writes(&plan.devices));
    }
    if let Some(memory) = res.memory() {
        memory_writes(memory, w)?;
    }
    if let Some(cpu) = res.cpu() {
        cpu_writes(cpu, w)?;
    }
    if let Some(pids) = res.pids() {
        w.push(CgroupWrite::new("pids", "pids.max", pids_max(pids.limit())));
    }
    if let Some(blkio) = res.block_io() {
        blkio_writes(blkio, w)?;
    }
    for limit in res.hugepage_limits().iter().flatten() {
        check_page_size(limit.page_size())?;
        let value = match limit.limit() {
            -1 => "-1".to_string(),
            n if n < 0 => return Err(invalid("hugepageLimits.limit", n.to_string())),
            n => n.to_string(),
        };
        let size = limit.page_size();
        w.push(CgroupWrite::new(
            "hugetlb",
            format!("hugetlb.{size}.limit_in_bytes"),
            &value,
        ));
        // Reservation accounting (kernel 5.7+) enforces at mmap time instead of fault time.
        w.push(
            CgroupWrite::new(
                "hugetlb",
                format!("hugetlb.{size}.rsvd.limit_in_bytes"),
                &value,
            )
            .or_skip(),
        );
    }
    if let Some(net) = res.network() {
        if let Some(class_id) = net.class_id() {
            w.push(CgroupWrite::new("net_cls", "net_cls.classid", class_id));
        }
        for prio in net.priorities().iter().flatten() {
            let name = prio.name();
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return Err(invalid("network.priorities", format!("interface {name:?}")));
            }
            let line = format!("{name} {}", prio.priority());
            w.push(CgroupWrite::new("net_prio", "net_prio.ifpriomap", line));
        }
    }
    w.extend(rdma_writes(res, "rdma")?);
    Ok(())
}

/// runc's rule: a positive limit is the limit, 0 and negative values mean no limit ("max").
/// (runtime-spec 1.3 suggests 0 be a real limit of zero tasks; engines send 0 for "unset".)
pub fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    }
}

fn memory_writes(m: &LinuxMemory, w: &mut Vec<CgroupWrite>) -> Result<(), CgroupError> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    // Unlimited memory with swap unset means both unlimited (runc).
    if limit == -1 && swap == 0 {
        swap = -1;
    }
    let limit_w = CgroupWrite::new("memory", "memory.limit_in_bytes", limit);
    let swap_w = CgroupWrite::new("memory", "memory.memsw.limit_in_bytes", swap);
    // memory+swap must never be below memory: raise memsw first only when it becomes
    // unlimited; otherwise the fresh, unlimited memsw is lowered after memory.
    match (limit != 0, swap != 0) {
        (true, true) if swap == -1 => w.extend([swap_w, limit_w]),
        (true, true) => {
            if swap > 0 && limit > 0 && swap < limit {
                return Err(invalid(
                    "memory.swap",
                    "memory+swap limit is below the memory limit",
                ));
            }
            w.extend([limit_w, swap_w]);
        }
        (true, false) => w.push(limit_w),
        (false, true) => w.push(swap_w),
        (false, false) => {}
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        w.push(CgroupWrite::new("memory", "memory.soft_limit_in_bytes", r));
    }
    // Deprecated, and gone from newer kernels: skipped with a warning when absent.
    if let Some(k) = m.kernel().filter(|k| *k != 0) {
        w.push(CgroupWrite::new("memory", "memory.kmem.limit_in_bytes", k).or_skip());
    }
    if let Some(k) = m.kernel_tcp().filter(|k| *k != 0) {
        w.push(CgroupWrite::new("memory", "memory.kmem.tcp.limit_in_bytes", k).or_skip());
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(invalid(
                "memory.swappiness",
                format!("{s} is not in 0..=100"),
            ));
        }
        w.push(CgroupWrite::new("memory", "memory.swappiness", s));
    }
    if m.disable_oom_killer() == Some(true) {
        w.push(CgroupWrite::new("memory", "memory.oom_control", "1"));
    }
    Ok(())
}

/// The kernel clamps cpu.shares to 2..=262144 without an error; like runc, refuse values it
/// would change rather than run with another weight than asked.
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;

fn cpu_writes(c: &LinuxCpu, w: &mut Vec<CgroupWrite>) -> Result<(), CgroupError> {
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        if shares < MIN_SHARES {
            return Err(invalid(
                "cpu.shares",
                format!("the minimum allowed cpu-shares is {MIN_SHARES}"),
            ));
        }
        if shares > MAX_SHARES {
            return Err(invalid(
                "cpu.shares",
                format!("the maximum allowed cpu-shares is {MAX_SHARES}"),
            ));
        }
        w.push(CgroupWrite::new("cpu", "cpu.shares", shares));
    }
    // Period before quota: with the fresh cgroup's unlimited quota any period is accepted;
    // burst after quota, which bounds it.
    if let Some(period) = c.period().filter(|p| *p != 0) {
        w.push(CgroupWrite::new("cpu", "cpu.cfs_period_us", period));
    }
    if let Some(quota) = c.quota().filter(|q| *q != 0) {
        w.push(CgroupWrite::new("cpu", "cpu.cfs_quota_us", quota));
    }
    if let Some(burst) = c.burst() {
        w.push(CgroupWrite::new("cpu", "cpu.cfs_burst_us", burst));
    }
    if let Some(idle) = c.idle() {
        w.push(CgroupWrite::new("cpu", "cpu.idle", idle));
    }
    if let Some(period) = c.realtime_period().filter(|p| *p != 0) {
        w.push(CgroupWrite::new("cpu", "cpu.rt_period_us", period));
    }
    if let Some(runtime) = c.realtime_runtime().filter(|r| *r != 0) {
        w.push(CgroupWrite::new("cpu", "cpu.rt_runtime_us", runtime));
    }
    Ok(())
}

/// Weights are 10..=1000 for both the CFQ (`blkio.weight`) and BFQ (`blkio.bfq.weight`)
/// files; the BFQ name is the fallback when the CFQ one is absent (kernels since 5.0).
pub fn check_weight(field: &str, weight: u16) -> Result<u16, CgroupError> {
    if (10..=1000).contains(&weight) {
        Ok(weight)
    } else {
        Err(invalid(field, format!("{weight} is not in 10..=1000")))
    }
}

fn blkio_writes(b: &LinuxBlockIo, w: &mut Vec<CgroupWrite>) -> Result<(), CgroupError> {
    let weight_file = |cfq: &str, bfq: &str, value: String| {
        CgroupWrite::new("blkio", cfq, &value).or_instead(CgroupWrite::new("blkio", bfq, value))
    };
    if let Some(weight) = b.weight().filter(|w| *w != 0) {
        let weight = check_weight("blockIO.weight", weight)?;
        w.push(weight_file(
            "blkio.weight",
            "blkio.bfq.weight",
            weight.to_string(),
        ));
    }
    if let Some(leaf) = b.leaf_weight().filter(|w| *w != 0) {
        let leaf = check_weight("blockIO.leafWeight", leaf)?;
        w.push(CgroupWrite::new("blkio", "blkio.leaf_weight", leaf));
    }
    for dev in b.weight_device().iter().flatten() {
        let (major, minor) = (dev.major(), dev.minor());
        if let Some(weight) = dev.weight().filter(|w| *w != 0) {
            let weight = check_weight("blockIO.weightDevice.weight", weight)?;
            let line = format!("{major}:{minor} {weight}");
            w.push(weight_file(
                "blkio.weight_device",
                "blkio.bfq.weight_device",
                line,
            ));
        }
        if let Some(leaf) = dev.leaf_weight().filter(|w| *w != 0) {
            let leaf = check_weight("blockIO.weightDevice.leafWeight", leaf)?;
            let line = format!("{major}:{minor} {leaf}");
            w.push(CgroupWrite::new("blkio", "blkio.leaf_weight_device", line));
        }
    }
    let throttles = [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
        ),
    ];
    for (devices, file) in throttles {
        for dev in devices.iter().flatten() {
            let line = format!("{}:{} {}", dev.major(), dev.minor(), dev.rate());
            w.push(CgroupWrite::new("blkio", file, line));
        }
    }
    Ok(())
}
