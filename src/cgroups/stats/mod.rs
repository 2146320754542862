//! Resource usage of the container's cgroup (`events`), read from the v1 controller files on
//! legacy and hybrid hosts and from the unified leaf on v2 hosts, as runc reads them. The
//! readers take directories, so unit tests give them temporary ones with kernel-like files.

mod types;
mod v1;
mod v2;

use std::collections::BTreeMap;
use std::path::Path;

pub use types::*;
pub use v1::V1Dirs;
pub(super) use v2::oom_kill_count;

use super::fsutil;
use super::{CgroupError, CgroupVersion, Manager};

impl Manager {
    /// The container's statistics now.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        match self.version() {
            CgroupVersion::V1 => v1::stats(&V1Dirs {
                cpu: self.controller_dir("cpu"),
                cpuacct: self.controller_dir("cpuacct"),
                cpuset: self.controller_dir("cpuset"),
                memory: self.controller_dir("memory"),
                pids: self.controller_dir("pids"),
                blkio: self.controller_dir("blkio"),
                hugetlb: self.controller_dir("hugetlb"),
            }),
            CgroupVersion::V2 => {
                let dir = self.controller_dir("").ok_or(CgroupError::NoHierarchy)?;
                v2::stats(&dir)
            }
        }
    }
}

fn parse_error(path: &Path, reason: impl Into<String>) -> CgroupError {
    CgroupError::Parse {
        what: path.display().to_string(),
        reason: reason.into(),
    }
}

/// A counter or limit as runc reads it: "max" is `u64::MAX`, a negative number (v1's -1) 0.
fn parse_value(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "max" {
        return Some(u64::MAX);
    }
    match text.parse::<u64>() {
        Ok(v) => Some(v),
        Err(_) => text.parse::<i64>().ok().filter(|v| *v < 0).map(|_| 0),
    }
}

/// A one-value control file ("max" reads as `u64::MAX`).
pub fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    let text = fsutil::read(path)?;
    parse_value(&text).ok_or_else(|| parse_error(path, format!("{text:?} is not a number")))
}

/// A one-value control file that may not exist (feature or controller absent).
fn read_u64_optional(path: &Path) -> Result<Option<u64>, CgroupError> {
    match fsutil::read_optional(path)? {
        None => Ok(None),
        Some(text) => parse_value(&text)
            .map(Some)
            .ok_or_else(|| parse_error(path, format!("{text:?} is not a number"))),
    }
}

/// "key value" lines (memory.stat, cpu.stat, memory.events, cpuacct.stat).
fn parse_keyed(path: &Path, text: &str) -> Result<BTreeMap<String, u64>, CgroupError> {
    let mut map = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split_whitespace();
        let (Some(key), Some(value), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(parse_error(
                path,
                format!("line {line:?} is not \"key value\""),
            ));
        };
        let value = parse_value(value)
            .ok_or_else(|| parse_error(path, format!("line {line:?}: not a number")))?;
        map.insert(key.to_string(), value);
    }
    Ok(map)
}

fn read_keyed(path: &Path) -> Result<BTreeMap<String, u64>, CgroupError> {
    parse_keyed(path, &fsutil::read(path)?)
}

fn read_keyed_optional(path: &Path) -> Result<Option<BTreeMap<String, u64>>, CgroupError> {
    match fsutil::read_optional(path)? {
        None => Ok(None),
        Some(text) => parse_keyed(path, &text).map(Some),
    }
}

/// A cpuset list ("0-3,8,10-11") as the numbers it names.
fn parse_list(path: &Path, text: &str) -> Result<Vec<u16>, CgroupError> {
    let mut out = Vec::new();
    let bad =
        |part: &str| parse_error(path, format!("{part:?} in {text:?} is not a cpu list item"));
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let first: u16 = first.parse().map_err(|_| bad(part))?;
        let last: u16 = last.parse().map_err(|_| bad(part))?;
        if first > last {
            return Err(bad(part));
        }
        out.extend(first..=last);
    }
    Ok(out)
}

/// The page sizes of the hugetlb files in `dir`: "2MB" for `hugetlb.2MB.<suffix>` (the
/// `rsvd` variants, `hugetlb.2MB.rsvd.<suffix>`, are not page sizes).
fn hugetlb_sizes(dir: &Path, suffix: &str) -> Result<Vec<String>, CgroupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CgroupError::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut sizes: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let size = name.strip_prefix("hugetlb.")?.strip_suffix(suffix)?;
            let size = size.strip_suffix('.')?;
            (!size.contains('.')).then(|| size.to_string())
        })
        .collect();
    sizes.sort();
    Ok(sizes)
}

#[cfg(test)]
mod tests;
