//! Statistics from the cgroup v2 leaf, mapped onto runc's v1-shaped document as runc maps
//! them (microseconds to nanoseconds, swap reported as memory+swap, io.stat as blkio tables).

use std::path::Path;

use super::{
    fsutil, hugetlb_sizes, parse_error, read_keyed_optional, read_u64, read_u64_optional, Blkio,
    BlkioEntry, CgroupError, Hugetlb, MemoryEntry, Stats,
};

pub fn stats(dir: &Path) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    // cpu.stat's usage lines exist even when the cpu controller is not enabled.
    if let Some(stat) = read_keyed_optional(&dir.join("cpu.stat"))? {
        let get = |k: &str| stat.get(k).copied().unwrap_or(0);
        s.cpu.usage.total = get("usage_usec").saturating_mul(1000);
        s.cpu.usage.user = get("user_usec").saturating_mul(1000);
        s.cpu.usage.kernel = get("system_usec").saturating_mul(1000);
        s.cpu.throttling.periods = get("nr_periods");
        s.cpu.throttling.throttled_periods = get("nr_throttled");
        s.cpu.throttling.throttled_time = get("throttled_usec").saturating_mul(1000);
    }
    memory(dir, &mut s)?;
    pids(dir, &mut s)?;
    let io = dir.join("io.stat");
    if let Some(text) = fsutil::read_optional(&io)? {
        s.blkio = parse_io_stat(&io, &text)?;
    }
    for size in hugetlb_sizes(dir, "current")? {
        let file = |name: &str| dir.join(format!("hugetlb.{size}.{name}"));
        let events = read_keyed_optional(&file("events"))?.unwrap_or_default();
        let entry = Hugetlb {
            usage: read_u64(&file("current"))?,
            max: 0,
            failcnt: events.get("max").copied().unwrap_or(0),
        };
        s.hugetlb.insert(size, entry);
    }
    Ok(s)
}

/// Without memory.stat the memory controller is not enabled here: nothing to report.
fn memory(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let Some(raw) = read_keyed_optional(&dir.join("memory.stat"))? else {
        return Ok(());
    };
    let m = &mut s.memory;
    m.cache = raw.get("file").copied().unwrap_or(0);
    m.raw = raw;
    m.usage = MemoryEntry {
        limit: read_u64(&dir.join("memory.max"))?,
        usage: read_u64(&dir.join("memory.current"))?,
        // memory.peak: kernel 5.19+.
        max: read_u64_optional(&dir.join("memory.peak"))?.unwrap_or(0),
        failcnt: 0,
    };
    // No memory.swap.* without swap accounting: then the swap entry stays zero.
    if let Some(swap) = read_u64_optional(&dir.join("memory.swap.current"))? {
        let limit = read_u64(&dir.join("memory.swap.max"))?;
        m.swap = MemoryEntry {
            usage: swap.saturating_add(m.usage.usage),
            limit: if limit == u64::MAX {
                limit
            } else {
                limit.saturating_add(m.usage.limit)
            },
            max: 0,
            failcnt: 0,
        };
    }
    Ok(())
}

/// pids.current, or (pids controller not enabled) the processes in the subtree counted.
fn pids(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    if let Some(current) = read_u64_optional(&dir.join("pids.current"))? {
        s.pids.current = current;
        let max = read_u64(&dir.join("pids.max"))?;
        s.pids.limit = if max == u64::MAX { 0 } else { max };
        return Ok(());
    }
    let mut dirs = Vec::new();
    fsutil::cgroup_tree(dir, &mut dirs)?;
    for d in dirs {
        let procs = fsutil::read_optional(&d.join("cgroup.procs"))?.unwrap_or_default();
        s.pids.current += procs.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    }
    Ok(())
}

/// io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0") as v1's service-bytes and
/// serviced tables with Read/Write operations; other keys have no v1 table and are skipped.
pub(super) fn parse_io_stat(path: &Path, text: &str) -> Result<Blkio, CgroupError> {
    let mut b = Blkio::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split_whitespace();
        let Some(device) = fields.next() else {
            continue;
        };
        let bad = || parse_error(path, format!("invalid line {line:?}"));
        let (major, minor) = device.split_once(':').ok_or_else(bad)?;
        let major: u64 = major.parse().map_err(|_| bad())?;
        let minor: u64 = minor.parse().map_err(|_| bad())?;
        for item in fields {
            let Some((key, value)) = item.split_once('=') else {
                continue;
            };
            let (table, op) = match key {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                _ => continue,
            };
            table.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value: value.parse().map_err(|_| bad())?,
            });
        }
    }
    Ok(b)
}

/// memory.events' `oom_kill` counter (0 when the file or the key is absent).
pub fn oom_kill_count(dir: &Path) -> Result<u64, CgroupError> {
    let events = read_keyed_optional(&dir.join("memory.events"))?.unwrap_or_default();
    Ok(events.get("oom_kill").copied().unwrap_or(0))
}
