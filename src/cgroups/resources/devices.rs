//! Device access rules (`linux.resources.devices`): checked and normalised once, then written
//! as v1 `devices.allow`/`devices.deny` lines, or (later) compiled into a v2 eBPF program.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::{invalid, CgroupWrite};
use crate::cgroups::CgroupError;

/// One rule, in list order (later rules override earlier ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    /// 'a' (all), 'b' (block) or 'c' (char).
    pub kind: char,
    /// `None` is the wildcard `*`.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Non-empty subset of "rwm", in that order.
    pub access: String,
}

impl DeviceRule {
    /// "a" (all types, all numbers, all access) or "c 1:3 rwm".
    fn covers_everything(&self) -> bool {
        self.kind == 'a' && self.major.is_none() && self.minor.is_none() && self.access == "rwm"
    }
}

pub fn normalise(rules: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>, CgroupError> {
    rules.iter().map(normalise_one).collect()
}

fn normalise_one(rule: &LinuxDeviceCgroup) -> Result<DeviceRule, CgroupError> {
    let kind = match rule.typ().unwrap_or_default() {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C => 'c',
        other => {
            return Err(invalid(
                "devices",
                format!(
                    "type {:?} cannot be used in a device rule (a, b or c)",
                    other.as_str()
                ),
            ))
        }
    };
    let access = rule
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    if let Some(bad) = access.chars().find(|c| !"rwm".contains(*c)) {
        return Err(invalid(
            "devices",
            format!("access {access:?} has {bad:?} (only r, w, m)"),
        ));
    }
    let access: String = "rwm".chars().filter(|c| access.contains(*c)).collect();
    Ok(DeviceRule {
        allow: rule.allow(),
        kind,
        major: number(rule.major(), "major")?,
        minor: number(rule.minor(), "minor")?,
        access,
    })
}

/// -1 is the wildcard, as in runc's configs.
fn number(n: Option<i64>, what: &str) -> Result<Option<u32>, CgroupError> {
    match n {
        None | Some(-1) => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| invalid("devices", format!("{what} number {n} is out of range"))),
    }
}

/// v1: deny everything first, then each rule in order. "a" on its own resets the cgroup
/// (default allow or deny, exceptions cleared), which is exactly a catch-all rule. A rule of
/// type `a` narrower than that is not expressible as "a" (the kernel would ignore the rest of
/// the line and grant everything), so it becomes one rule for `c` and one for `b`.
pub fn v1_writes(rules: &[DeviceRule]) -> Vec<CgroupWrite> {
    let mut writes = vec![CgroupWrite::new("devices", "devices.deny", "a")];
    for rule in rules {
        let file = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        if rule.covers_everything() {
            writes.push(CgroupWrite::new("devices", file, "a"));
            continue;
        }
        let kinds: &[char] = if rule.kind == 'a' {
            &['c', 'b']
        } else {
            &[rule.kind]
        };
        for kind in kinds {
            let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
            let line = format!(
                "{kind} {}:{} {}",
                num(rule.major),
                num(rule.minor),
                rule.access
            );
            writes.push(CgroupWrite::new("devices", file, line));
        }
    }
    writes
}
