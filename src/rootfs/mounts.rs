//! Performing the spec's mounts inside the rootfs. Destinations are resolved with pathrs inside
//! the rootfs; bind mounts are cloned with open_tree and attached with move_mount onto the
//! resolved fd; filesystem mounts (which need mount(2)'s data string) target the fd's
//! /proc/self/fd magic link, which the kernel resolves to exactly that file.

use std::fs::Permissions;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::statfs::{fstatfs, statfs, PROC_SUPER_MAGIC};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use pathrs::flags::OpenFlags;
use pathrs::{Handle, Root};

use super::copyup::copy_tree;
use super::inroot::{self, Lookup};
use super::options::{bind_needs_remount, bind_remount_attr, PropagationChange};
use super::plan::{check_proc_destination, clean_container_path, ProcMountKind};
use super::types::{BindMount, CgroupMount, FsMount, MountEntry, MountKind};
use super::{pathrs_errno, RootfsError};
use crate::sys::mount::{self as sysmount, MountAttr, AT_RECURSIVE, OPEN_TREE_CLONE};

pub(super) fn path_error(
    op: &'static str,
    path: &Path,
) -> impl FnOnce(pathrs::error::Error) -> RootfsError {
    let path = path.to_path_buf();
    move |source| RootfsError::Path { op, path, source }
}

fn is_errno(err: &pathrs::error::Error, errno: i32) -> bool {
    pathrs_errno(err) == Some(errno)
}

/// Open the rootfs for scoped lookups (after it has been bound onto itself, so lookups see the
/// mounts we add on top of it).
pub(super) fn open_root(rootfs: &Path) -> Result<Root, RootfsError> {
    Root::open(rootfs).map_err(path_error("open", rootfs))
}

pub(super) fn resolve(root: &Root, path: &Path) -> Result<Handle, RootfsError> {
    match inroot::lookup(root, path, false) {
        Lookup::Found(handle) => Ok(handle),
        _ => root.resolve(path).map_err(path_error("resolve", path)),
    }
}

/// `path` (`None` when it does not exist), the trailing symlink followed inside the root, or
/// not with `nofollow`.
pub(super) fn resolve_existing(
    root: &Root,
    path: &Path,
    nofollow: bool,
) -> Result<Option<Handle>, RootfsError> {
    let found = match inroot::lookup(root, path, nofollow) {
        Lookup::Found(handle) => return Ok(Some(handle)),
        Lookup::Missing => return Ok(None),
        Lookup::Ask if nofollow => root.resolve_nofollow(path),
        Lookup::Ask => root.resolve(path),
    };
    match found {
        Ok(handle) => Ok(Some(handle)),
        Err(e) if is_errno(&e, libc::ENOENT) => Ok(None),
        Err(e) => Err(path_error("resolve", path)(e)),
    }
}

/// Whether `path` itself (not what it points to) is a symlink.
pub(super) fn is_symlink(root: &Root, path: &Path) -> bool {
    match inroot::lookup(root, path, true) {
        Lookup::Found(handle) => nix::sys::stat::fstat(handle.as_fd().as_raw_fd())
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK),
        Lookup::Missing => false,
        Lookup::Ask => root.readlink(path).is_ok(),
    }
}

pub(super) fn mkdir_all(root: &Root, path: &Path) -> Result<Handle, RootfsError> {
    if let Some(handle) = inroot::mkdir_all(root, path) {
        return Ok(handle);
    }
    let perm = Permissions::from_mode(0o755);
    match root.mkdir_all(path, &perm) {
        Ok(h) => Ok(h),
        // A symlink on the way whose target does not exist yet (`/abs -> /some/host/dir`):
        // like runc, create the target inside the rootfs. The rewritten path has no
        // dangling links left, and pathrs still keeps every step inside the root.
        Err(first) => match resolve_links_in_root(root, path) {
            Some(resolved) if resolved != path => root
                .mkdir_all(&resolved, &perm)
                .map_err(path_error("mkdir", path)),
            _ => Err(path_error("mkdir", path)(first)),
        },
    }
}

/// `path` with every symlink expanded as if the rootfs were `/` (`..` stops at the root), or
/// None after 40 links (a loop).
fn resolve_links_in_root(root: &Root, path: &Path) -> Option<PathBuf> {
    use std::collections::VecDeque;
    use std::path::Component;
    let parts = |p: &Path| -> Vec<std::ffi::OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_owned()),
                Component::ParentDir => Some("..".into()),
                _ => None,
            })
            .collect()
    };
    let mut todo: VecDeque<_> = parts(path).into();
    let mut done = PathBuf::from("/");
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            done.pop();
            continue;
        }
        let candidate = done.join(&c);
        match root.readlink(&candidate) {
            Ok(target) => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                if target.is_absolute() {
                    done = PathBuf::from("/");
                }
                for p in parts(&target).into_iter().rev() {
                    todo.push_front(p);
                }
            }
            // Not a symlink, or not there yet: a plain component.
            Err(_) => done = candidate,
        }
    }
    Some(done)
}

/// Resolve `path`, creating an empty file there (and its parent directories) when it does not
/// exist. The file is created with O_EXCL|O_NOFOLLOW: a dangling symlink is an error, never a
/// way to create a file wherever it points.
pub(super) fn ensure_file(root: &Root, path: &Path) -> Result<Handle, RootfsError> {
    if let Some(handle) = resolve_existing(root, path, false)? {
        return Ok(handle);
    }
    if let Some(parent) = path.parent() {
        mkdir_all(root, parent)?;
    }
    let flags =
        OpenFlags::O_RDONLY | OpenFlags::O_EXCL | OpenFlags::O_NOFOLLOW | OpenFlags::O_CLOEXEC;
    root.create_file(path, flags, &Permissions::from_mode(0o644))
        .map_err(path_error("create", path))?;
    resolve(root, path)
}

/// The container path a handle resolved to (for the /proc check): its host path without the
/// rootfs prefix.
pub(super) fn container_path(handle: BorrowedFd<'_>, rootfs: &Path) -> PathBuf {
    let host = nix::fcntl::readlink(&sysmount::proc_fd_path(handle)).map(PathBuf::from);
    match host {
        Ok(host) => match host.strip_prefix(rootfs) {
            Ok(rel) => clean_container_path(rel),
            Err(_) => host,
        },
        Err(_) => PathBuf::from("/"),
    }
}

fn mount_err(
    step: &'static str,
    source: &str,
    destination: &Path,
) -> impl FnOnce(Errno) -> RootfsError {
    let (source, destination) = (source.to_string(), destination.to_path_buf());
    move |errno| RootfsError::Mount {
        step,
        src: source,
        destination,
        errno,
    }
}

/// Perform one entry of `mounts`. `idmapped` is the pre-opened source of an idmapped bind mount.
pub(super) fn mount_entry(
    root: &Root,
    rootfs: &Path,
    entry: &MountEntry,
    idmapped: Option<OwnedFd>,
) -> Result<(), RootfsError> {
    let mounted = match &entry.kind {
        MountKind::Bind(bind) => bind_mount(root, rootfs, &entry.destination, bind, idmapped)?,
        MountKind::Filesystem(fs) => fs_mount(root, rootfs, &entry.destination, fs, true)?,
        MountKind::Cgroup(cgroup) => return cgroup_mount(root, rootfs, entry, cgroup),
    };
    apply_attributes(entry, &mounted)
}

/// rro-style recursive attributes, then the propagation changes, in option order.
fn apply_attributes(entry: &MountEntry, mounted: &Handle) -> Result<(), RootfsError> {
    let source = entry.destination.to_string_lossy();
    if !entry.recursive.is_empty() {
        let (set, clear) = entry.recursive.set_clear();
        let attr = MountAttr {
            set,
            clear,
            ..Default::default()
        };
        sysmount::mount_setattr(mounted.as_fd(), true, &attr).map_err(mount_err(
            "set recursive mount attributes",
            &source,
            &entry.destination,
        ))?;
    }
    apply_propagation(&entry.destination, &entry.propagation, mounted)
}

fn apply_propagation(
    destination: &Path,
    changes: &[PropagationChange],
    mounted: &Handle,
) -> Result<(), RootfsError> {
    for change in changes {
        let attr = MountAttr {
            propagation: change.ms_flag().bits(),
            ..Default::default()
        };
        sysmount::mount_setattr(mounted.as_fd(), change.recursive, &attr).map_err(|errno| {
            RootfsError::Propagation {
                path: destination.to_path_buf(),
                flags: format!("{:?}", change.mount_flags()),
                errno,
            }
        })?;
    }
    Ok(())
}

/// Bind `bind.source` onto `destination` and return a handle to the new mount's root.
pub(super) fn bind_mount(
    root: &Root,
    rootfs: &Path,
    destination: &Path,
    bind: &BindMount,
    tree: Option<OwnedFd>,
) -> Result<Handle, RootfsError> {
    let source = bind.source.to_string_lossy();
    let source_stat =
        statfs(&bind.source).map_err(mount_err("stat source", &source, destination))?;
    let is_dir = std::fs::metadata(&bind.source)
        .map(|m| m.is_dir())
        .unwrap_or(false);
    let target = if is_dir {
        mkdir_all(root, destination)?
    } else {
        ensure_file(root, destination)?
    };
    let kind = if source_stat.filesystem_type() == PROC_SUPER_MAGIC {
        ProcMountKind::Bind
    } else {
        ProcMountKind::Other
    };
    check_resolved(&target, rootfs, destination, kind)?;
    let tree = match tree {
        Some(tree) => tree,
        None => {
            let flags = OPEN_TREE_CLONE | if bind.recursive { AT_RECURSIVE } else { 0 };
            sysmount::open_tree(&bind.source, flags).map_err(mount_err(
                "open_tree",
                &source,
                destination,
            ))?
        }
    };
    sysmount::move_mount(tree.as_fd(), target.as_fd()).map_err(mount_err(
        "move_mount",
        &source,
        destination,
    ))?;
    let mounted = resolve(root, destination)?;
    if bind_needs_remount(bind.flags) {
        set_bind_flags(mounted.as_fd(), bind.flags).map_err(mount_err(
            "remount with flags",
            &source,
            destination,
        ))?;
    }
    Ok(mounted)
}

/// Give a bind mount exactly the per-mount flags in `flags` (remount semantics). In a user
/// namespace the flags the mount had when the namespace was made are locked and cannot be
/// cleared: on EPERM keep whatever the mount has and only add the requested flags.
fn set_bind_flags(mount: BorrowedFd<'_>, flags: MsFlags) -> Result<(), Errno> {
    let (set, clear) = bind_remount_attr(flags);
    let attr = MountAttr {
        set,
        clear,
        ..Default::default()
    };
    match sysmount::mount_setattr(mount, false, &attr) {
        Err(Errno::EPERM) => {}
        other => return other,
    }
    let current = fstatvfs(mount)?.flags();
    let mut keep = 0;
    for (st, attr) in [
        (FsFlags::ST_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (FsFlags::ST_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (FsFlags::ST_NODEV, libc::MOUNT_ATTR_NODEV),
        (FsFlags::ST_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
    ] {
        if current.contains(st) {
            keep |= attr;
        }
    }
    // The atime settings are locked as a whole: leave them as they are.
    let atime = libc::MOUNT_ATTR__ATIME | libc::MOUNT_ATTR_NODIRATIME;
    let attr = MountAttr {
        set: set & !atime,
        clear: clear & !keep & !atime,
        ..Default::default()
    };
    sysmount::mount_setattr(mount, false, &attr)
}

fn check_resolved(
    target: &Handle,
    rootfs: &Path,
    destination: &Path,
    kind: ProcMountKind,
) -> Result<(), RootfsError> {
    let resolved = container_path(target.as_fd(), rootfs);
    check_proc_destination(&resolved, kind).map_err(|reason| RootfsError::InvalidMount {
        destination: destination.to_path_buf(),
        reason,
    })
}

/// mount(2) a filesystem onto `destination` and return a handle to the new mount's root.
/// `fallback` allows runc's fallbacks for a user namespace that may not mount sysfs or mqueue
/// (no network/IPC namespace of its own): bind the host's instead.
fn fs_mount(
    root: &Root,
    rootfs: &Path,
    destination: &Path,
    fs: &FsMount,
    fallback: bool,
) -> Result<Handle, RootfsError> {
    let fstype = fs.fstype.as_deref();
    let source = fs.source.as_deref().unwrap_or("");
    let old_mode = match fstype {
        Some("tmpfs") => resolve_existing(root, destination, false)
            .ok()
            .flatten()
            .and_then(|h| nix::sys::stat::fstat(h.as_fd().as_raw_fd()).ok()),
        _ => None,
    }
    .map(|st| st.st_mode & 0o7777);
    let target = mkdir_all(root, destination)?;
    let kind = if fstype == Some("proc") {
        ProcMountKind::Proc
    } else {
        ProcMountKind::Other
    };
    check_resolved(&target, rootfs, destination, kind)?;
    // For tmpcopyup: a descriptor of the directory the tmpfs is about to hide.
    let lower = if fs.copy_up {
        let dir =
            target.reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY | OpenFlags::O_CLOEXEC);
        Some(dir.map_err(path_error("open", destination))?)
    } else {
        None
    };
    let data = (!fs.data.is_empty()).then_some(fs.data.as_str());
    let result = nix::mount::mount(
        fs.source.as_deref(),
        &sysmount::proc_fd_path(target.as_fd()),
        fstype,
        fs.flags,
        data,
    );
    if let Err(errno) = result {
        let host_fallback = match fstype {
            Some("sysfs") => Some("/sys"),
            Some("mqueue") => Some("/dev/mqueue"),
            _ => None,
        };
        return match host_fallback {
            Some(host) if fallback && errno == Errno::EPERM && in_user_namespace() => {
                let bind = BindMount {
                    source: PathBuf::from(host),
                    recursive: true,
                    flags: fs.flags | MsFlags::MS_BIND | MsFlags::MS_REC,
                    idmap: None,
                };
                bind_mount(root, rootfs, destination, &bind, None)
            }
            _ => Err(mount_err("mount", source, destination)(errno)),
        };
    }
    let mounted = resolve(root, destination)?;
    if let Some(lower) = lower {
        let upper =
            mounted.reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY | OpenFlags::O_CLOEXEC);
        let upper = upper.map_err(path_error("open", destination))?;
        copy_tree(lower.as_fd(), upper.as_fd(), Path::new("")).map_err(|(path, errno)| {
            RootfsError::CopyUp {
                destination: destination.to_path_buf(),
                path,
                errno,
            }
        })?;
    }
    // A tmpfs over an existing directory keeps that directory's mode unless mode= says
    // otherwise (runc does the same).
    if let Some(mode) = old_mode.filter(|_| !has_option(&fs.data, "mode")) {
        let dir =
            mounted.reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY | OpenFlags::O_CLOEXEC);
        let dir = dir.map_err(path_error("open", destination))?;
        let mode = nix::sys::stat::Mode::from_bits_truncate(mode);
        nix::sys::stat::fchmod(dir.as_raw_fd(), mode).map_err(mount_err(
            "chmod",
            source,
            destination,
        ))?;
    }
    Ok(mounted)
}

fn has_option(data: &str, key: &str) -> bool {
    data.split(',').any(|o| o.split('=').next() == Some(key))
}

/// Whether this process is in a user namespace other than the initial one.
fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"],
        Err(_) => false,
    }
}

fn cgroup_mount(
    root: &Root,
    rootfs: &Path,
    entry: &MountEntry,
    cgroup: &CgroupMount,
) -> Result<(), RootfsError> {
    let destination = &entry.destination;
    match cgroup {
        CgroupMount::V2 {
            flags,
            data,
            fallback_source,
        } => {
            let fs = FsMount {
                fstype: Some("cgroup2".into()),
                source: Some("cgroup".into()),
                flags: *flags,
                data: data.clone(),
                copy_up: false,
            };
            let mounted = match fs_mount(root, rootfs, destination, &fs, false) {
                Ok(mounted) => mounted,
                // Without a cgroup namespace of its own, a user namespace may not mount cgroup2.
                Err(RootfsError::Mount {
                    errno: Errno::EPERM | Errno::EBUSY,
                    ..
                }) => {
                    let bind = BindMount {
                        source: fallback_source.clone(),
                        recursive: false,
                        flags: *flags | MsFlags::MS_BIND,
                        idmap: None,
                    };
                    bind_mount(root, rootfs, destination, &bind, None)?
                }
                Err(e) => return Err(e),
            };
            apply_attributes(entry, &mounted)
        }
        CgroupMount::V1 {
            flags,
            hierarchies,
            cgroupns,
        } => {
            let fixed = MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            let tmpfs = FsMount {
                fstype: Some("tmpfs".into()),
                source: Some("tmpfs".into()),
                flags: fixed,
                data: "mode=755".into(),
                copy_up: false,
            };
            let top = fs_mount(root, rootfs, destination, &tmpfs, false)?;
            for hierarchy in hierarchies {
                let sub = destination.join(&hierarchy.dir_name);
                let mounted = if *cgroupns {
                    let fs = FsMount {
                        fstype: Some("cgroup".into()),
                        source: Some(
                            if hierarchy.dir_name == "systemd" {
                                "systemd"
                            } else {
                                "cgroup"
                            }
                            .into(),
                        ),
                        flags: fixed | (*flags & MsFlags::MS_RDONLY),
                        data: hierarchy.options.clone(),
                        copy_up: false,
                    };
                    fs_mount(root, rootfs, &sub, &fs, false)?
                } else {
                    let bind = BindMount {
                        source: hierarchy.source.clone(),
                        recursive: true,
                        flags: *flags | MsFlags::MS_BIND | MsFlags::MS_REC,
                        idmap: None,
                    };
                    bind_mount(root, rootfs, &sub, &bind, None)?
                };
                apply_propagation(&sub, &entry.propagation, &mounted)?;
            }
            // Co-mounted controllers get a link per name ("cpu" -> "cpu,cpuacct").
            for hierarchy in hierarchies.iter().filter(|h| h.dir_name.contains(',')) {
                for name in hierarchy.dir_name.split(',') {
                    let link = destination.join(name);
                    let target = pathrs::InodeType::Symlink(PathBuf::from(&hierarchy.dir_name));
                    match root.create(&link, &target) {
                        Err(e) if !is_errno(&e, libc::EEXIST) => {
                            return Err(path_error("symlink", &link)(e))
                        }
                        _ => {}
                    }
                }
            }
            if flags.contains(MsFlags::MS_RDONLY) {
                let attr = MountAttr {
                    set: libc::MOUNT_ATTR_RDONLY,
                    ..Default::default()
                };
                sysmount::mount_setattr(top.as_fd(), false, &attr).map_err(mount_err(
                    "remount read-only",
                    "tmpfs",
                    destination,
                ))?;
            }
            apply_attributes(entry, &top)
        }
    }
}

/// fstatfs-based check that `fd` is on procfs.
pub(super) fn is_procfs(fd: BorrowedFd<'_>) -> bool {
    fstatfs(fd)
        .map(|s| s.filesystem_type() == PROC_SUPER_MAGIC)
        .unwrap_or(false)
}
