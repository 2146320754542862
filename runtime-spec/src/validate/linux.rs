//! `linux` (except resources): namespaces, id mappings, sysctls, devices and paths, plus the
//! top-level fields that need a namespace (hostname, domainname).

use std::collections::{BTreeMap, HashSet};

use oci_spec::runtime::{Linux, LinuxDeviceType, LinuxIdMapping, LinuxNamespaceType, Spec};

use super::{invalid, Namespaces, ValidationError};

/// Most id map lines the kernel accepts per map (since Linux 4.15).
const MAX_ID_MAPPINGS: usize = 340;

/// The JSON name of a namespace type (oci-spec's Display says "mnt" and "net").
pub fn namespace_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

pub(super) fn check(spec: &Spec, ns: &Namespaces) -> Result<(), ValidationError> {
    for (field, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if value.as_deref().is_some_and(|v| !v.is_empty()) && !ns.contains(LinuxNamespaceType::Uts)
        {
            return Err(invalid(
                field,
                format!("unable to set {field} without a private UTS namespace"),
            ));
        }
    }
    let default = Linux::default();
    let linux = spec.linux().as_ref().unwrap_or(&default);
    check_namespaces(linux)?;
    check_user_namespace(spec, linux, ns)?;
    check_time_offsets(linux, ns)?;
    check_sysctl(linux, ns)?;
    check_paths(linux, ns)?;
    check_devices(linux)?;
    check_net_devices(linux, ns)?;
    if let Some(propagation) = linux.rootfs_propagation() {
        const ALLOWED: [&str; 9] = [
            "",
            "shared",
            "slave",
            "private",
            "unbindable",
            "rshared",
            "rslave",
            "rprivate",
            "runbindable",
        ];
        if !ALLOWED.contains(&propagation.as_str()) {
            return Err(invalid(
                "linux.rootfsPropagation",
                format!(
                    "rootfsPropagation {propagation:?} is not one of shared, slave, private, \
                     unbindable (or their r-prefixed forms)"
                ),
            ));
        }
    }
    if let Some(path) = linux.cgroups_path() {
        if path.to_string_lossy().contains('\0') {
            return Err(invalid(
                "linux.cgroupsPath",
                "cgroupsPath contains a nul byte",
            ));
        }
    }
    if linux
        .personality()
        .as_ref()
        .is_some_and(|p| p.flags().as_ref().is_some_and(|f| !f.is_empty()))
    {
        return Err(invalid(
            "linux.personality.flags",
            "personality flags are not supported",
        ));
    }
    Ok(())
}

fn check_namespaces(linux: &Linux) -> Result<(), ValidationError> {
    let mut seen = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        let name = namespace_name(ns.typ());
        if !seen.insert(ns.typ()) {
            return Err(invalid(
                format!("linux.namespaces[{i}].type"),
                format!("duplicate namespace type {name:?}"),
            ));
        }
        if let Some(path) = ns.path().as_ref().filter(|p| !p.as_os_str().is_empty()) {
            if !path.is_absolute() {
                return Err(invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("{name} namespace path {path:?} must be absolute"),
                ));
            }
        }
    }
    Ok(())
}

/// Checks one id map: non-empty ranges inside the 32-bit id space, no overlap on either side
/// (the kernel refuses such uid_map/gid_map writes with EINVAL).
pub(super) fn check_id_mappings(
    field: &str,
    maps: &[LinuxIdMapping],
) -> Result<(), ValidationError> {
    if maps.len() > MAX_ID_MAPPINGS {
        return Err(invalid(
            field,
            format!(
                "at most {MAX_ID_MAPPINGS} mappings are allowed, got {}",
                maps.len()
            ),
        ));
    }
    let range =
        |start: u32, m: &LinuxIdMapping| (u64::from(start), u64::from(start) + u64::from(m.size()));
    for (i, map) in maps.iter().enumerate() {
        if map.size() == 0 {
            return Err(invalid(
                format!("{field}[{i}].size"),
                "size must be greater than zero",
            ));
        }
        for (side, start) in [
            ("containerID", map.container_id()),
            ("hostID", map.host_id()),
        ] {
            if range(start, map).1 > 1 << 32 {
                return Err(invalid(
                    format!("{field}[{i}]"),
                    format!(
                        "{side} {start} + size {} goes past the largest id",
                        map.size()
                    ),
                ));
            }
        }
        for (j, other) in maps[..i].iter().enumerate() {
            for (side, a, b) in [
                (
                    "container",
                    range(map.container_id(), map),
                    range(other.container_id(), other),
                ),
                (
                    "host",
                    range(map.host_id(), map),
                    range(other.host_id(), other),
                ),
            ] {
                if a.0 < b.1 && b.0 < a.1 {
                    return Err(invalid(
                        format!("{field}[{i}]"),
                        format!("{side} id range overlaps the one of {field}[{j}]"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn is_mapped(maps: &[LinuxIdMapping], id: u32) -> bool {
    maps.iter().any(|m| {
        let start = u64::from(m.container_id());
        (start..start + u64::from(m.size())).contains(&u64::from(id))
    })
}

fn check_user_namespace(
    spec: &Spec,
    linux: &Linux,
    ns: &Namespaces,
) -> Result<(), ValidationError> {
    let uid_maps = linux.uid_mappings().as_deref().unwrap_or_default();
    let gid_maps = linux.gid_mappings().as_deref().unwrap_or_default();
    check_id_mappings("linux.uidMappings", uid_maps)?;
    check_id_mappings("linux.gidMappings", gid_maps)?;
    if !ns.contains(LinuxNamespaceType::User) {
        for (field, maps) in [
            ("linux.uidMappings", uid_maps),
            ("linux.gidMappings", gid_maps),
        ] {
            if !maps.is_empty() {
                return Err(invalid(
                    field,
                    "user namespace mappings specified, but USER namespace isn't enabled in the \
                     config",
                ));
            }
        }
        return Ok(());
    }
    // Joining an existing user namespace: its mappings are already set, so none are needed.
    if !ns.creates(LinuxNamespaceType::User) {
        return Ok(());
    }
    if uid_maps.is_empty() {
        return Err(invalid(
            "linux.uidMappings",
            "user namespaces enabled, but no uid mappings found",
        ));
    }
    if gid_maps.is_empty() {
        return Err(invalid(
            "linux.gidMappings",
            "user namespaces enabled, but no gid mappings found",
        ));
    }
    // setresuid/setgroups would fail with EINVAL inside the new namespace.
    let Some(user) = spec.process().as_ref().map(|p| p.user()) else {
        return Ok(());
    };
    if !is_mapped(uid_maps, user.uid()) {
        return Err(invalid(
            "process.user.uid",
            format!("uid {} is not mapped in linux.uidMappings", user.uid()),
        ));
    }
    let gids = std::iter::once(("process.user.gid".to_owned(), user.gid())).chain(
        user.additional_gids()
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, g)| (format!("process.user.additionalGids[{i}]"), *g)),
    );
    for (field, gid) in gids {
        if !is_mapped(gid_maps, gid) {
            return Err(invalid(
                field,
                format!("gid {gid} is not mapped in linux.gidMappings"),
            ));
        }
    }
    Ok(())
}

fn check_time_offsets(linux: &Linux, ns: &Namespaces) -> Result<(), ValidationError> {
    let Some(offsets) = linux.time_offsets().as_ref().filter(|o| !o.is_empty()) else {
        return Ok(());
    };
    if !ns.contains(LinuxNamespaceType::Time) {
        return Err(invalid(
            "linux.timeOffsets",
            "time namespace offsets specified, but time namespace isn't enabled in the config",
        ));
    }
    // timens_offsets can only be written before any process enters the namespace.
    if !ns.creates(LinuxNamespaceType::Time) {
        return Err(invalid(
            "linux.timeOffsets",
            "time offsets can only be set for a new time namespace, not a joined one",
        ));
    }
    let sorted: BTreeMap<_, _> = offsets.iter().collect();
    for (clock, offset) in sorted {
        if clock != "monotonic" && clock != "boottime" {
            return Err(invalid(
                format!("linux.timeOffsets.{clock}"),
                format!("unknown clock {clock:?}: only monotonic and boottime can be offset"),
            ));
        }
        if offset.nanosecs().is_some_and(|n| n >= 1_000_000_000) {
            return Err(invalid(
                format!("linux.timeOffsets.{clock}.nanosecs"),
                "nanosecs must be less than 1000000000",
            ));
        }
    }
    Ok(())
}

/// runc's sysctl rules: /proc/sys is only partly namespaced, so a sysctl is allowed only when
/// the container has its own namespace of the kind that owns it.
fn check_sysctl(linux: &Linux, ns: &Namespaces) -> Result<(), ValidationError> {
    const IPC_SYSCTLS: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let Some(sysctl) = linux.sysctl() else {
        return Ok(());
    };
    let sorted: BTreeMap<_, _> = sysctl.iter().collect();
    for raw in sorted.keys() {
        let key = dotted_sysctl(raw);
        let refuse = |reason: String| Err(invalid("linux.sysctl", reason));
        if key.is_empty() {
            return refuse("sysctl key must not be empty".to_owned());
        }
        if IPC_SYSCTLS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            if ns.contains(LinuxNamespaceType::Ipc) {
                continue;
            }
            return refuse(format!(
                "sysctl {key:?} is not allowed in the hosts ipc namespace"
            ));
        }
        if key.starts_with("net.") {
            // A joined network namespace might be the host's; that needs a stat of the path
            // and is checked by the runtime.
            if ns.contains(LinuxNamespaceType::Network) {
                continue;
            }
            return refuse(format!(
                "sysctl {key:?} is not allowed in the hosts network namespace"
            ));
        }
        if ns.contains(LinuxNamespaceType::Uts) {
            match key.as_str() {
                "kernel.domainname" => continue,
                "kernel.hostname" => {
                    return refuse(format!(
                    "sysctl {key:?} is not allowed as it conflicts with the OCI \"hostname\" field"
                ))
                }
                _ => {}
            }
        }
        return refuse(format!(
            "sysctl {key:?} is not in a separate kernel namespace"
        ));
    }
    Ok(())
}

/// sysctl(8) also accepts '/' as the separator ("net/ipv4/conf/eth0.100/rp_filter"); then dots
/// inside a component are literal. Converts such a key to the dotted form, swapping the two
/// separators, as runc does.
pub fn dotted_sysctl(key: &str) -> String {
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'/' => key
            .chars()
            .map(|c| match c {
                '/' => '.',
                '.' => '/',
                c => c,
            })
            .collect(),
        _ => key.to_owned(),
    }
}

fn check_paths(linux: &Linux, ns: &Namespaces) -> Result<(), ValidationError> {
    for (name, paths) in [
        ("maskedPaths", linux.masked_paths()),
        ("readonlyPaths", linux.readonly_paths()),
    ] {
        let paths = paths.as_deref().unwrap_or_default();
        for (i, path) in paths.iter().enumerate() {
            if !path.starts_with('/') {
                return Err(invalid(
                    format!("linux.{name}[{i}]"),
                    format!("path {path:?} must be absolute"),
                ));
            }
        }
        if !paths.is_empty() && !ns.contains(LinuxNamespaceType::Mount) {
            return Err(invalid(
                format!("linux.{name}"),
                "unable to restrict sys entries without a private MNT namespace",
            ));
        }
    }
    Ok(())
}

fn check_devices(linux: &Linux) -> Result<(), ValidationError> {
    let mut seen = HashSet::new();
    for (i, device) in linux.devices().iter().flatten().enumerate() {
        let field = format!("linux.devices[{i}]");
        let path = device.path();
        if !path.is_absolute() {
            return Err(invalid(
                format!("{field}.path"),
                format!("device path {path:?} must be absolute"),
            ));
        }
        if device.typ() == LinuxDeviceType::A {
            return Err(invalid(
                format!("{field}.type"),
                "device type must be one of c, b, u or p",
            ));
        }
        if !seen.insert(path) {
            return Err(invalid(
                format!("{field}.path"),
                format!("device path {path:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

/// dev_valid_name() in the kernel; a "%d" template is allowed.
pub fn valid_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
}

fn check_net_devices(linux: &Linux, ns: &Namespaces) -> Result<(), ValidationError> {
    let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    if !ns.contains(LinuxNamespaceType::Network) {
        return Err(invalid(
            "linux.netDevices",
            "network devices can only be moved into a private network namespace",
        ));
    }
    let sorted: BTreeMap<_, _> = devices.iter().collect();
    let mut targets = HashSet::new();
    for (host_name, device) in sorted {
        let field = format!("linux.netDevices.{host_name}");
        if !valid_interface_name(host_name) {
            return Err(invalid(
                field,
                format!("invalid interface name {host_name:?}"),
            ));
        }
        let target = device
            .name()
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(host_name);
        if !valid_interface_name(target) {
            return Err(invalid(
                format!("{field}.name"),
                format!("invalid interface name {target:?}"),
            ));
        }
        if !target.contains("%d") && !targets.insert(target) {
            return Err(invalid(
                format!("{field}.name"),
                format!("two devices would be named {target:?} in the container"),
            ));
        }
    }
    Ok(())
}

/// A systemd cgroupsPath, "slice:prefix:name".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemdCgroupsPath {
    pub slice: String,
    pub prefix: String,
    pub name: String,
}

/// Splits a cgroupsPath meant for the systemd cgroup manager.
pub fn parse_systemd_cgroups_path(path: &str) -> Result<SystemdCgroupsPath, ValidationError> {
    let parts: Vec<&str> = path.split(':').collect();
    match parts[..] {
        [slice, prefix, name] => Ok(SystemdCgroupsPath {
            slice: slice.to_owned(),
            prefix: prefix.to_owned(),
            name: name.to_owned(),
        }),
        _ => Err(invalid(
            "linux.cgroupsPath",
            format!(
                "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd \
                 cgroups, got {path:?} instead"
            ),
        )),
    }
}

#[cfg(test)]
#[path = "linux_tests.rs"]
mod tests;
