//! The data a [`super::RootfsPlan`] is made of: what the runtime tells the planner, and what
//! `prepare`, `enter` and `finalize` execute. Plain data, inspected by the planner's tests.

use std::path::PathBuf;

use nix::mount::MsFlags;

use super::options::{PropagationChange, RecursiveAttr};

/// What the runtime knows about the container that the spec does not say.
#[derive(Debug, Clone)]
pub struct RootfsOptions {
    /// `--no-pivot`: move the rootfs onto / and chroot instead of pivot_root.
    pub no_pivot: bool,
    /// The container has its own user namespace: device nodes cannot be created, the host's are
    /// bind-mounted instead.
    pub new_user_ns: bool,
    pub new_cgroup_ns: bool,
    /// What a `cgroup` mount shows.
    pub cgroup: CgroupView,
    /// The bundle directory: relative bind sources are relative to it.
    pub bundle: PathBuf,
    /// `linux.mountLabel`: added as `context=` to filesystem mounts (see `lsm::mount_context`).
    pub mount_label: Option<String>,
}

/// The container's cgroup as a `cgroup` mount must show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupView {
    /// Unified hierarchy: mount cgroup2. `container_dir` is the host directory of the
    /// container's cgroup: when cgroup2 cannot be mounted (user namespace without cgroup
    /// namespace) and the container has a cgroup namespace, that directory is bind-mounted
    /// instead of the whole host /sys/fs/cgroup.
    V2 { container_dir: Option<PathBuf> },
    /// Legacy hierarchies: a tmpfs at the destination with one directory per hierarchy.
    /// `hierarchies` holds (mount name as in the `cgroup` mount options, e.g. "cpu,cpuacct" or
    /// "name=systemd"; host directory of the container's cgroup in that hierarchy).
    V1 { hierarchies: Vec<(String, PathBuf)> },
    /// No cgroup filesystem is available: a `cgroup` mount is a configuration error.
    None,
}

/// Everything `prepare`, `enter` and `finalize` do, computed from the spec.
#[derive(Debug, Clone)]
pub struct RootfsPlan {
    /// Absolute host path of the container's root filesystem.
    pub rootfs: PathBuf,
    pub no_pivot: bool,
    /// Applied to / in the new mount namespace before anything else (default rslave, so that
    /// nothing we mount propagates to the host).
    pub root_propagation: MsFlags,
    /// Applied to the container's / after pivot_root when rootfsPropagation asks for it.
    pub final_root_propagation: Option<MsFlags>,
    pub mounts: Vec<MountEntry>,
    /// Device nodes to create under the rootfs; `None` when /dev is a bind mount (then the
    /// bound directory is used as is: no devices, no /dev symlinks).
    pub dev: Option<DevSetup>,
    /// Sorted by key, written after pivot_root.
    pub sysctl: Vec<Sysctl>,
    pub readonly_paths: Vec<PathBuf>,
    pub masked_paths: Vec<PathBuf>,
    /// root.readonly: remount the container's / read-only at the end.
    pub readonly_root: bool,
    /// tmpfs mounts and /dev with `ro`: mounted writable (we still create files in them) and
    /// made read-only in `finalize`.
    pub readonly_remounts: Vec<PathBuf>,
    /// process.cwd, made (inside the rootfs) when missing, as runc does.
    pub cwd: Option<PathBuf>,
}

/// One entry of `mounts`, in spec order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Absolute, lexically clean path inside the container.
    pub destination: PathBuf,
    pub kind: MountKind,
    /// Applied in order after the mount exists.
    pub propagation: Vec<PropagationChange>,
    /// `rro`, `rnosuid`, ...: mount_setattr(AT_RECURSIVE) after the mount exists.
    pub recursive: RecursiveAttr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    Bind(BindMount),
    Filesystem(FsMount),
    Cgroup(CgroupMount),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// Absolute host path.
    pub source: PathBuf,
    /// rbind: the submounts of the source come along.
    pub recursive: bool,
    /// All mount(2) flags of the options (MS_BIND, MS_REC included). When flags other than
    /// bind/rec/remount are present, the bind mount's flags are set to exactly these.
    pub flags: MsFlags,
    pub idmap: Option<Idmap>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsMount {
    pub fstype: Option<String>,
    pub source: Option<String>,
    /// mount(2) flags (MS_RDONLY already removed for mounts in `readonly_remounts`).
    pub flags: MsFlags,
    pub data: String,
    /// `tmpcopyup`.
    pub copy_up: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupMount {
    /// cgroup2 at the destination; `fallback_source` is bind-mounted when that is refused.
    V2 {
        flags: MsFlags,
        data: String,
        fallback_source: PathBuf,
    },
    /// tmpfs at the destination, then one directory per hierarchy.
    V1 {
        flags: MsFlags,
        hierarchies: Vec<CgroupHierarchy>,
        cgroupns: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupHierarchy {
    /// Directory name under the destination ("cpu,cpuacct", "systemd").
    pub dir_name: String,
    /// Mount options selecting the hierarchy ("cpu,cpuacct", "name=systemd").
    pub options: String,
    /// Host directory of the container's cgroup, bind-mounted without a cgroup namespace.
    pub source: PathBuf,
}

/// An idmapped bind mount (`idmap`/`ridmap`, `uidMappings`/`gidMappings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idmap {
    /// ridmap: the mapping applies to every mount of an rbind tree.
    pub recursive: bool,
    /// The mount's own mappings; `None`: use the container's user namespace.
    pub mappings: Option<IdMappings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMappings {
    /// "containerID hostID size" lines, as written to /proc/PID/uid_map.
    pub uid_map: String,
    pub gid_map: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevSetup {
    pub devices: Vec<DeviceNode>,
    /// Bind-mount the host's node at the same path instead of mknod (user namespace).
    pub bind_from_host: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Char,
    Block,
    Fifo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Absolute, lexically clean path inside the container.
    pub path: PathBuf,
    pub kind: DeviceKind,
    pub major: u64,
    pub minor: u64,
    /// Permission bits (file type bits removed).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    pub key: String,
    /// Relative to /proc/sys.
    pub path: PathBuf,
    pub value: String,
}

/// Devices every container gets (runtime-spec "Default Devices"), unless linux.devices lists
/// the same path. /dev/console and /dev/ptmx are handled separately.
pub const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/random", 1, 8),
    ("/dev/full", 1, 7),
    ("/dev/tty", 5, 0),
    ("/dev/zero", 1, 5),
    ("/dev/urandom", 1, 9),
];
