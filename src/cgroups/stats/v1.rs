//! Statistics from cgroup v1 controller directories.

use std::path::{Path, PathBuf};

use super::{
    fsutil, hugetlb_sizes, parse_error, parse_list, read_keyed, read_keyed_optional, read_u64,
    read_u64_optional, BlkioEntry, CgroupError, Hugetlb, MemoryEntry, Stats,
};
use crate::cgroups::stats::Blkio;

/// USER_HZ: cpuacct.stat counts in these ticks, 100 per second on every Linux ABI.
const CLOCK_TICKS: u64 = 100;

/// The container's directory in each v1 hierarchy it has; `None` where the controller is not
/// mounted (that part of the statistics stays zero).
#[derive(Debug, Clone, Default)]
pub struct V1Dirs {
    pub cpu: Option<PathBuf>,
    pub cpuacct: Option<PathBuf>,
    pub cpuset: Option<PathBuf>,
    pub memory: Option<PathBuf>,
    pub pids: Option<PathBuf>,
    pub blkio: Option<PathBuf>,
    pub hugetlb: Option<PathBuf>,
}

pub fn stats(dirs: &V1Dirs) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    if let Some(dir) = &dirs.cpu {
        if let Some(stat) = read_keyed_optional(&dir.join("cpu.stat"))? {
            let t = &mut s.cpu.throttling;
            t.periods = stat.get("nr_periods").copied().unwrap_or(0);
            t.throttled_periods = stat.get("nr_throttled").copied().unwrap_or(0);
            t.throttled_time = stat.get("throttled_time").copied().unwrap_or(0);
        }
    }
    if let Some(dir) = &dirs.cpuacct {
        cpuacct(dir, &mut s)?;
    }
    if let Some(dir) = &dirs.cpuset {
        cpuset(dir, &mut s)?;
    }
    if let Some(dir) = &dirs.memory {
        memory(dir, &mut s)?;
    }
    if let Some(dir) = &dirs.pids {
        s.pids.current = read_u64(&dir.join("pids.current"))?;
        let max = read_u64(&dir.join("pids.max"))?;
        s.pids.limit = if max == u64::MAX { 0 } else { max };
    }
    if let Some(dir) = &dirs.blkio {
        s.blkio = blkio(dir)?;
    }
    if let Some(dir) = &dirs.hugetlb {
        for size in hugetlb_sizes(dir, "usage_in_bytes")? {
            let file = |name: &str| dir.join(format!("hugetlb.{size}.{name}"));
            let entry = Hugetlb {
                usage: read_u64(&file("usage_in_bytes"))?,
                max: read_u64_optional(&file("max_usage_in_bytes"))?.unwrap_or(0),
                failcnt: read_u64_optional(&file("failcnt"))?.unwrap_or(0),
            };
            s.hugetlb.insert(size, entry);
        }
    }
    Ok(s)
}

fn cpuacct(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let u = &mut s.cpu.usage;
    u.total = read_u64(&dir.join("cpuacct.usage"))?;
    let percpu = dir.join("cpuacct.usage_percpu");
    u.percpu = numbers(&percpu, &fsutil::read(&percpu)?)?;
    // cpuacct.usage_all (kernel 4.16+): "cpu user system" then one line per cpu, in ns.
    let all = dir.join("cpuacct.usage_all");
    if let Some(text) = fsutil::read_optional(&all)? {
        for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let cols = numbers(&all, line)?;
            let [_, user, system] = cols[..] else {
                return Err(parse_error(
                    &all,
                    format!("line {line:?} has not 3 columns"),
                ));
            };
            u.percpu_user.push(user);
            u.percpu_kernel.push(system);
        }
    }
    let stat = read_keyed(&dir.join("cpuacct.stat"))?;
    let ns = |ticks: u64| ticks.saturating_mul(1_000_000_000 / CLOCK_TICKS);
    u.user = ns(stat.get("user").copied().unwrap_or(0));
    u.kernel = ns(stat.get("system").copied().unwrap_or(0));
    Ok(())
}

fn numbers(path: &Path, text: &str) -> Result<Vec<u64>, CgroupError> {
    text.split_whitespace()
        .map(|n| {
            n.parse()
                .map_err(|_| parse_error(path, format!("{n:?} is not a number")))
        })
        .collect()
}

fn cpuset(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let c = &mut s.cpuset;
    let list = |name: &str| -> Result<Vec<u16>, CgroupError> {
        let path = dir.join(name);
        match fsutil::read_optional(&path)? {
            Some(text) => parse_list(&path, &text),
            None => Ok(Vec::new()),
        }
    };
    c.cpus = list("cpuset.cpus")?;
    c.mems = list("cpuset.mems")?;
    let flag = |name: &str| -> Result<u64, CgroupError> {
        Ok(read_u64_optional(&dir.join(name))?.unwrap_or(0))
    };
    c.cpu_exclusive = flag("cpuset.cpu_exclusive")?;
    c.mem_hardwall = flag("cpuset.mem_hardwall")?;
    c.mem_exclusive = flag("cpuset.mem_exclusive")?;
    c.memory_migrate = flag("cpuset.memory_migrate")?;
    c.memory_spread_page = flag("cpuset.memory_spread_page")?;
    c.memory_spread_slab = flag("cpuset.memory_spread_slab")?;
    c.memory_pressure = flag("cpuset.memory_pressure")?;
    c.sched_load_balance = flag("cpuset.sched_load_balance")?;
    let level = dir.join("cpuset.sched_relax_domain_level");
    if let Some(text) = fsutil::read_optional(&level)? {
        c.sched_relax_domain_level = text
            .parse()
            .map_err(|_| parse_error(&level, format!("{text:?} is not a number")))?;
    }
    Ok(())
}

/// Without memory.stat there is no memory accounting to report (runc leaves it all zero).
fn memory(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let Some(raw) = read_keyed_optional(&dir.join("memory.stat"))? else {
        return Ok(());
    };
    let m = &mut s.memory;
    m.cache = raw.get("cache").copied().unwrap_or(0);
    m.raw = raw;
    m.usage = memory_entry(dir, "memory")?.unwrap_or_default();
    // Swap and kernel accounting are optional kernel features.
    m.swap = memory_entry(dir, "memory.memsw")?.unwrap_or_default();
    m.kernel = memory_entry(dir, "memory.kmem")?.unwrap_or_default();
    m.kernel_tcp = memory_entry(dir, "memory.kmem.tcp")?.unwrap_or_default();
    Ok(())
}

/// `<prefix>.usage_in_bytes` and friends; `None` when the usage file does not exist.
fn memory_entry(dir: &Path, prefix: &str) -> Result<Option<MemoryEntry>, CgroupError> {
    let file = |name: &str| dir.join(format!("{prefix}.{name}"));
    let Some(usage) = read_u64_optional(&file("usage_in_bytes"))? else {
        return Ok(None);
    };
    Ok(Some(MemoryEntry {
        usage,
        max: read_u64(&file("max_usage_in_bytes"))?,
        failcnt: read_u64(&file("failcnt"))?,
        limit: read_u64(&file("limit_in_bytes"))?,
    }))
}

/// Which blkio files to read: the first group whose first file has lines wins (BFQ with debug
/// statistics, BFQ, CFQ, throttling recursive, throttling), as runc picks them.
const BLKIO_GROUPS: &[&[(&str, Field)]] = &[
    &[
        ("blkio.bfq.sectors_recursive", Field::Sectors),
        ("blkio.bfq.io_service_time_recursive", Field::ServiceTime),
        ("blkio.bfq.io_wait_time_recursive", Field::WaitTime),
        ("blkio.bfq.io_merged_recursive", Field::Merged),
        ("blkio.bfq.io_queued_recursive", Field::Queued),
        ("blkio.bfq.time_recursive", Field::Time),
        ("blkio.bfq.io_serviced_recursive", Field::Serviced),
        ("blkio.bfq.io_service_bytes_recursive", Field::ServiceBytes),
    ],
    &[
        ("blkio.bfq.io_serviced_recursive", Field::Serviced),
        ("blkio.bfq.io_service_bytes_recursive", Field::ServiceBytes),
    ],
    &[
        ("blkio.sectors_recursive", Field::Sectors),
        ("blkio.io_service_time_recursive", Field::ServiceTime),
        ("blkio.io_wait_time_recursive", Field::WaitTime),
        ("blkio.io_merged_recursive", Field::Merged),
        ("blkio.io_queued_recursive", Field::Queued),
        ("blkio.time_recursive", Field::Time),
        ("blkio.io_serviced_recursive", Field::Serviced),
        ("blkio.io_service_bytes_recursive", Field::ServiceBytes),
    ],
    &[
        ("blkio.throttle.io_serviced_recursive", Field::Serviced),
        (
            "blkio.throttle.io_service_bytes_recursive",
            Field::ServiceBytes,
        ),
    ],
    &[
        ("blkio.throttle.io_serviced", Field::Serviced),
        ("blkio.throttle.io_service_bytes", Field::ServiceBytes),
    ],
];

#[derive(Debug, Clone, Copy)]
enum Field {
    ServiceBytes,
    Serviced,
    Queued,
    ServiceTime,
    WaitTime,
    Merged,
    Time,
    Sectors,
}

fn blkio(dir: &Path) -> Result<Blkio, CgroupError> {
    let mut b = Blkio::default();
    for group in BLKIO_GROUPS {
        let (first_file, _) = group[0];
        let first = dir.join(first_file);
        let has_lines = fsutil::read_optional(&first)?.is_some_and(|t| !t.is_empty());
        if !has_lines {
            continue;
        }
        for &(file, field) in group.iter() {
            let path = dir.join(file);
            let text = fsutil::read_optional(&path)?.unwrap_or_default();
            let entries = parse_blkio(&path, &text)?;
            let slot = match field {
                Field::ServiceBytes => &mut b.io_service_bytes_recursive,
                Field::Serviced => &mut b.io_serviced_recursive,
                Field::Queued => &mut b.io_queued_recursive,
                Field::ServiceTime => &mut b.io_service_time_recursive,
                Field::WaitTime => &mut b.io_wait_time_recursive,
                Field::Merged => &mut b.io_merged_recursive,
                Field::Time => &mut b.io_time_recursive,
                Field::Sectors => &mut b.sectors_recursive,
            };
            *slot = entries;
        }
        break;
    }
    Ok(b)
}

/// Lines "8:0 Read 1282048" or "8:0 6792" (no operation); the "Total N" line is skipped.
pub(super) fn parse_blkio(path: &Path, text: &str) -> Result<Vec<BlkioEntry>, CgroupError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split([' ', ':']).filter(|f| !f.is_empty()).collect();
        let bad = || parse_error(path, format!("invalid line {line:?}"));
        let number = |s: &str| s.parse::<u64>().map_err(|_| bad());
        let (major, minor, op, value) = match fields[..] {
            ["Total", _] => continue,
            [major, minor, value] => (major, minor, "", value),
            [major, minor, op, value] => (major, minor, op, value),
            _ => return Err(bad()),
        };
        out.push(BlkioEntry {
            major: number(major)?,
            minor: number(minor)?,
            op: op.to_string(),
            value: number(value)?,
        });
    }
    Ok(out)
}
