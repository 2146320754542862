//! Spec -> [`RootfsPlan`]: every mount classified and its options parsed, the device list, the
//! sysctl writes, masked and readonly paths, root propagation. Pure: all configuration errors
//! surface here, before any fork.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxDeviceType, Mount, Spec};

use super::options::{parse_mount_options, PropagationChange};
use super::types::*;
use super::RootfsError;

/// Build the plan. `rootfs` is the absolute, canonical host path of root.path.
pub fn plan(spec: &Spec, rootfs: &Path, opts: RootfsOptions) -> Result<RootfsPlan, RootfsError> {
    let linux = spec.linux().as_ref();
    let (root_propagation, final_root_propagation) =
        root_propagation(linux.and_then(|l| l.rootfs_propagation().as_deref()))?;
    let mut plan = RootfsPlan {
        rootfs: rootfs.to_path_buf(),
        no_pivot: opts.no_pivot,
        root_propagation,
        final_root_propagation,
        mounts: Vec::new(),
        dev: None,
        sysctl: Vec::new(),
        readonly_paths: container_paths(
            "readonlyPaths",
            linux.and_then(|l| l.readonly_paths().as_ref()),
        )?,
        masked_paths: container_paths(
            "maskedPaths",
            linux.and_then(|l| l.masked_paths().as_ref()),
        )?,
        readonly_root: spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false),
        readonly_remounts: Vec::new(),
        cwd: spec
            .process()
            .as_ref()
            .map(|p| p.cwd().clone())
            .filter(|c| c.is_absolute() && c != Path::new("/")),
    };
    for mount in spec.mounts().iter().flatten() {
        let entry = plan_mount(mount, &opts)?;
        if let MountKind::Filesystem(fs) = &entry.kind {
            if fs.flags.contains(MsFlags::MS_RDONLY) {
                let tmpfs = fs.fstype.as_deref() == Some("tmpfs");
                if tmpfs || entry.destination == Path::new("/dev") {
                    plan.readonly_remounts.push(entry.destination.clone());
                }
            }
        }
        plan.mounts.push(entry);
    }
    // Delay read-only for the mounts finalize remounts: we still create files in them.
    for entry in &mut plan.mounts {
        if plan.readonly_remounts.contains(&entry.destination) {
            if let MountKind::Filesystem(fs) = &mut entry.kind {
                fs.flags.remove(MsFlags::MS_RDONLY);
            }
        }
    }
    let dev_is_bind = plan
        .mounts
        .iter()
        .any(|m| m.destination == Path::new("/dev") && matches!(m.kind, MountKind::Bind(_)));
    if !dev_is_bind {
        let spec_devices = linux.and_then(|l| l.devices().as_ref());
        plan.dev = Some(DevSetup {
            devices: plan_devices(spec_devices.map(Vec::as_slice).unwrap_or(&[]))?,
            bind_from_host: opts.new_user_ns,
        });
    }
    if let Some(sysctl) = linux.and_then(|l| l.sysctl().as_ref()) {
        let sorted: BTreeMap<&String, &String> = sysctl.iter().collect();
        for (key, value) in sorted {
            plan.sysctl.push(Sysctl {
                key: key.clone(),
                path: sysctl_path(key)?,
                value: value.clone(),
            });
        }
    }
    Ok(plan)
}

fn root_propagation(value: Option<&str>) -> Result<(MsFlags, Option<MsFlags>), RootfsError> {
    let default = MsFlags::MS_SLAVE | MsFlags::MS_REC;
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok((default, None));
    };
    let change = PropagationChange::parse(value)
        .ok_or_else(|| RootfsError::InvalidRootPropagation(value.to_string()))?;
    let flags = change.mount_flags();
    // The parent of the rootfs is made private anyway; only the other kinds need re-applying
    // on the new / (applying them before the pivot would change the host's mounts).
    let after_pivot = (!flags.contains(MsFlags::MS_PRIVATE)).then_some(flags);
    Ok((flags, after_pivot))
}

/// Lexically clean an absolute container path; relative ones are relative to / (deprecated by
/// the spec but allowed). `..` never climbs above /.
pub fn clean_container_path(path: &Path) -> PathBuf {
    let mut clean = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(name) => clean.push(name),
            Component::ParentDir => {
                clean.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    clean
}

fn container_paths(
    field: &'static str,
    paths: Option<&Vec<String>>,
) -> Result<Vec<PathBuf>, RootfsError> {
    let mut out = Vec::new();
    for path in paths.into_iter().flatten() {
        if !path.starts_with('/') {
            return Err(RootfsError::InvalidPath {
                field,
                path: PathBuf::from(path),
                reason: "must be an absolute path",
            });
        }
        out.push(clean_container_path(Path::new(path)));
    }
    Ok(out)
}

fn sysctl_path(key: &str) -> Result<PathBuf, RootfsError> {
    // sysctl(8): a key is dot-separated unless it uses slashes (which keeps dots in names).
    let separator = if key.contains('/') { '/' } else { '.' };
    let parts: Vec<&str> = key.split(separator).collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(RootfsError::InvalidSysctl {
            key: key.to_string(),
        });
    }
    Ok(parts.iter().collect())
}

fn invalid_mount(destination: &Path, reason: impl Into<String>) -> RootfsError {
    RootfsError::InvalidMount {
        destination: destination.to_path_buf(),
        reason: reason.into(),
    }
}

fn plan_mount(mount: &Mount, opts: &RootfsOptions) -> Result<MountEntry, RootfsError> {
    let raw_destination = mount.destination();
    let destination = clean_container_path(raw_destination);
    if destination == Path::new("/") {
        return Err(invalid_mount(
            raw_destination,
            "cannot mount over the container's root",
        ));
    }
    let options = parse_mount_options(mount.options().as_deref().unwrap_or(&[]));
    let fstype = mount.typ().as_deref().filter(|t| !t.is_empty());
    let is_bind = options.is_bind() || fstype == Some("bind");
    let has_mappings = mount.uid_mappings().is_some() || mount.gid_mappings().is_some();
    if (options.idmap.is_some() || has_mappings) && !is_bind {
        return Err(invalid_mount(
            raw_destination,
            "idmapped mounts are only supported for bind mounts",
        ));
    }
    let proc_kind = if is_bind {
        ProcMountKind::Bind
    } else if fstype == Some("proc") {
        ProcMountKind::Proc
    } else {
        ProcMountKind::Other
    };
    check_proc_destination(&destination, proc_kind)
        .map_err(|r| invalid_mount(raw_destination, r))?;

    let kind = if is_bind {
        let source = mount
            .source()
            .as_ref()
            .filter(|s| !s.as_os_str().is_empty())
            .ok_or_else(|| invalid_mount(raw_destination, "bind mount without a source"))?;
        MountKind::Bind(BindMount {
            source: opts.bundle.join(source),
            recursive: options.flags.contains(MsFlags::MS_REC),
            flags: options.flags | MsFlags::MS_BIND,
            idmap: plan_idmap(mount, options.idmap, opts.new_user_ns)?,
        })
    } else if fstype == Some("cgroup")
        || (fstype == Some("cgroup2") && matches!(opts.cgroup, CgroupView::V2 { .. }))
    {
        MountKind::Cgroup(plan_cgroup(
            raw_destination,
            options.flags,
            options.data_string(),
            opts,
        )?)
    } else {
        if options.copy_up && fstype != Some("tmpfs") {
            return Err(invalid_mount(
                raw_destination,
                "tmpcopyup is only supported for tmpfs",
            ));
        }
        MountKind::Filesystem(FsMount {
            fstype: fstype.map(str::to_string),
            source: mount
                .source()
                .as_ref()
                .map(|s| s.to_string_lossy().into_owned()),
            flags: options.flags,
            data: with_mount_label(options.data_string(), fstype, opts.mount_label.as_deref()),
            copy_up: options.copy_up,
        })
    };
    Ok(MountEntry {
        destination,
        kind,
        propagation: options.propagation,
        recursive: options.recursive,
    })
}

/// Appends the SELinux mount label to a filesystem mount's data, as runc does for every
/// filesystem but proc and sysfs; a `context=` the config already has wins.
fn with_mount_label(data: String, fstype: Option<&str>, label: Option<&str>) -> String {
    let Some(context) = label.and_then(|l| crate::lsm::mount_context(fstype, l)) else {
        return data;
    };
    if data.split(',').any(|o| o.starts_with("context=")) {
        return data;
    }
    if data.is_empty() {
        context
    } else {
        format!("{data},{context}")
    }
}

fn plan_idmap(
    mount: &Mount,
    option: Option<bool>,
    new_user_ns: bool,
) -> Result<Option<Idmap>, RootfsError> {
    let destination = mount.destination();
    let mappings = match (mount.uid_mappings(), mount.gid_mappings()) {
        (None, None) => None,
        (Some(uid), Some(gid)) if !uid.is_empty() && !gid.is_empty() => Some(IdMappings {
            uid_map: map_lines(
                uid.iter()
                    .map(|m| (m.container_id(), m.host_id(), m.size())),
            ),
            gid_map: map_lines(
                gid.iter()
                    .map(|m| (m.container_id(), m.host_id(), m.size())),
            ),
        }),
        _ => {
            return Err(invalid_mount(
                destination,
                "uidMappings and gidMappings must both be given and non-empty",
            ));
        }
    };
    if option.is_none() && mappings.is_none() {
        return Ok(None);
    }
    if mappings.is_none() && !new_user_ns {
        return Err(invalid_mount(
            destination,
            "idmap without uidMappings/gidMappings needs a user namespace",
        ));
    }
    // Mappings without an idmap option still ask for an idmapped mount (non-recursive).
    Ok(Some(Idmap {
        recursive: option.unwrap_or(false),
        mappings,
    }))
}

fn map_lines(mappings: impl Iterator<Item = (u32, u32, u32)>) -> String {
    mappings
        .map(|(inside, outside, size)| format!("{inside} {outside} {size}\n"))
        .collect()
}

fn plan_cgroup(
    destination: &Path,
    flags: MsFlags,
    data: String,
    opts: &RootfsOptions,
) -> Result<CgroupMount, RootfsError> {
    match &opts.cgroup {
        CgroupView::V2 { container_dir } => {
            let fallback_source = match container_dir {
                Some(dir) if opts.new_cgroup_ns => dir.clone(),
                _ => PathBuf::from("/sys/fs/cgroup"),
            };
            Ok(CgroupMount::V2 {
                flags,
                data,
                fallback_source,
            })
        }
        CgroupView::V1 { hierarchies } => Ok(CgroupMount::V1 {
            flags,
            cgroupns: opts.new_cgroup_ns,
            hierarchies: hierarchies
                .iter()
                .map(|(name, dir)| CgroupHierarchy {
                    dir_name: name.strip_prefix("name=").unwrap_or(name).to_string(),
                    options: name.clone(),
                    source: dir.clone(),
                })
                .collect(),
        }),
        CgroupView::None => Err(invalid_mount(
            destination,
            "no cgroup hierarchy is available for a cgroup mount",
        )),
    }
}

/// How a mount relates to procfs, for [`check_proc_destination`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcMountKind {
    /// A new procfs mount.
    Proc,
    /// A bind mount (on /proc itself only allowed when the source is a procfs, checked when
    /// mounting).
    Bind,
    Other,
}

/// Files under /proc that may be overmounted (lxcfs emulates them), as runc allows.
const PROC_OVERMOUNTS: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Refuse mounts that would hide or replace parts of procfs (a classic escape: mount something
/// over /proc/self/... or /proc/sys/kernel/core_pattern). `destination` is a clean container
/// path: the literal one when planning, the resolved one when mounting.
pub fn check_proc_destination(destination: &Path, kind: ProcMountKind) -> Result<(), String> {
    let Ok(rest) = destination.strip_prefix("/proc") else {
        return Ok(());
    };
    if rest.as_os_str().is_empty() {
        return match kind {
            ProcMountKind::Proc | ProcMountKind::Bind => Ok(()),
            ProcMountKind::Other => Err(format!(
                "{destination:?} cannot be mounted because it is not of type proc"
            )),
        };
    }
    if PROC_OVERMOUNTS.iter().any(|p| Path::new(p) == destination) {
        return Ok(());
    }
    Err(format!(
        "{destination:?} cannot be mounted because it is inside /proc"
    ))
}

fn plan_devices(
    spec_devices: &[oci_spec::runtime::LinuxDevice],
) -> Result<Vec<DeviceNode>, RootfsError> {
    let spec_paths: Vec<PathBuf> = spec_devices
        .iter()
        .map(|d| clean_container_path(d.path()))
        .collect();
    let mut devices: Vec<DeviceNode> = DEFAULT_DEVICES
        .iter()
        .filter(|(path, _, _)| !spec_paths.iter().any(|p| p == Path::new(path)))
        .map(|&(path, major, minor)| DeviceNode {
            path: PathBuf::from(path),
            kind: DeviceKind::Char,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    for (device, path) in spec_devices.iter().zip(spec_paths) {
        let invalid = |reason: &str| RootfsError::InvalidDevice {
            path: device.path().clone(),
            reason: reason.to_string(),
        };
        if !device.path().is_absolute() {
            return Err(invalid("path must be absolute"));
        }
        if path == Path::new("/") || path == Path::new("/dev") {
            return Err(invalid("path must name a file"));
        }
        let kind = match device.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
            LinuxDeviceType::B => DeviceKind::Block,
            LinuxDeviceType::P => DeviceKind::Fifo,
            LinuxDeviceType::A => return Err(invalid("type must be one of c, u, b, p")),
        };
        let (major, minor) = match kind {
            DeviceKind::Fifo => (0, 0),
            _ => (
                u64::try_from(device.major()).map_err(|_| invalid("major must not be negative"))?,
                u64::try_from(device.minor()).map_err(|_| invalid("minor must not be negative"))?,
            ),
        };
        devices.push(DeviceNode {
            path,
            kind,
            major,
            minor,
            mode: device.file_mode().map_or(0o666, |m| m & 0o7777),
            uid: device.uid().unwrap_or(0),
            gid: device.gid().unwrap_or(0),
        });
    }
    Ok(devices)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
