//! Root propagation and the switch into the rootfs: pivot_root, or with --no-pivot a move of
//! the rootfs onto / followed by chroot.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, close, fchdir};

use super::mountinfo::{containing_mount, parse_mountinfo, MountInfo};
use super::types::RootfsPlan;
use super::RootfsError;

const NONE: Option<&str> = None;

fn read_mountinfo() -> Result<Vec<MountInfo>, RootfsError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").map_err(RootfsError::Mountinfo)?;
    Ok(parse_mountinfo(&text))
}

fn propagation(path: &Path, flags: MsFlags) -> Result<(), RootfsError> {
    mount(NONE, path, NONE, flags, NONE).map_err(|errno| RootfsError::Propagation {
        path: path.to_path_buf(),
        flags: format!("{flags:?}"),
        errno,
    })
}

/// The first step in the new mount namespace: cut propagation to the host (rslave by default),
/// make the mount holding the rootfs private (pivot_root refuses a shared parent, and our bind
/// must not appear in other namespaces), then bind the rootfs onto itself so that it is a mount
/// point pivot_root can use.
pub(super) fn prepare_root(plan: &RootfsPlan) -> Result<(), RootfsError> {
    propagation(Path::new("/"), plan.root_propagation)?;
    // After a recursive slave or private change (the default) nothing in this namespace is
    // shared any more, the rootfs's parent included: the mount table need not be read.
    let nothing_shared = plan.root_propagation.contains(MsFlags::MS_REC)
        && plan
            .root_propagation
            .intersects(MsFlags::MS_SLAVE | MsFlags::MS_PRIVATE);
    if !nothing_shared {
        let mounts = read_mountinfo()?;
        if let Some(parent) = containing_mount(&mounts, &plan.rootfs).filter(|m| m.is_shared()) {
            propagation(&parent.mount_point, MsFlags::MS_PRIVATE)?;
        }
    }
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(&plan.rootfs), &plan.rootfs, NONE, flags, NONE).map_err(|errno| RootfsError::Mount {
        step: "bind rootfs onto itself",
        src: plan.rootfs.to_string_lossy().into_owned(),
        destination: plan.rootfs.clone(),
        errno,
    })
}

fn pivot_err(step: &'static str, rootfs: &Path) -> impl FnOnce(Errno) -> RootfsError {
    let rootfs = rootfs.to_path_buf();
    move |errno| RootfsError::Pivot {
        step,
        rootfs,
        errno,
    }
}

/// pivot_root(".", ".") with the new root as cwd stacks the old root on top of the new one;
/// detaching "." then removes the old root without needing a put_old directory in the rootfs.
pub(super) fn pivot_root(rootfs: &Path) -> Result<(), RootfsError> {
    let dir = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old_root = open("/", dir, Mode::empty()).map_err(pivot_err("open old root", rootfs))?;
    let result = (|| {
        let new_root =
            open(rootfs, dir, Mode::empty()).map_err(pivot_err("open new root", rootfs))?;
        let changed = fchdir(new_root).map_err(pivot_err("chdir to new root", rootfs));
        let _ = close(new_root);
        changed?;
        nix::unistd::pivot_root(".", ".").map_err(pivot_err("pivot_root", rootfs))?;
        // "." is now the old root, stacked on the new one.
        fchdir(old_root).map_err(pivot_err("chdir to old root", rootfs))?;
        // Unmount events must not reach the host, whatever rootfsPropagation said.
        let slave = MsFlags::MS_SLAVE | MsFlags::MS_REC;
        mount(NONE, ".", NONE, slave, NONE).map_err(pivot_err("make old root rslave", rootfs))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(pivot_err("unmount old root", rootfs))?;
        chdir("/").map_err(pivot_err("chdir to /", rootfs))
    })();
    let _ = close(old_root);
    result
}

/// --no-pivot: hide the host's full procfs and sysfs mounts (a user namespace may only mount
/// proc/sysfs where a fully visible one exists; runc removes them too), move the rootfs onto /
/// and chroot into it.
pub(super) fn move_root(rootfs: &Path) -> Result<(), RootfsError> {
    chdir(rootfs).map_err(pivot_err("chdir to rootfs", rootfs))?;
    let hidden: Vec<PathBuf> = read_mountinfo()?
        .into_iter()
        .filter(|m| m.root == Path::new("/") && (m.fstype == "proc" || m.fstype == "sysfs"))
        .filter(|m| !m.mount_point.starts_with(rootfs))
        .map(|m| m.mount_point)
        .collect();
    for path in hidden {
        match mount(NONE, &path, NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE) {
            Err(Errno::ENOENT | Errno::EINVAL) => continue, // already gone with a parent
            other => other.map_err(pivot_err("make host proc/sysfs rslave", rootfs))?,
        }
        match umount2(&path, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            // Locked in a user namespace: cover it instead.
            Err(Errno::EINVAL | Errno::EPERM) => {
                mount(Some("tmpfs"), &path, Some("tmpfs"), MsFlags::empty(), NONE)
                    .map_err(pivot_err("cover host proc/sysfs", rootfs))?;
            }
            Err(e) => return Err(pivot_err("unmount host proc/sysfs", rootfs)(e)),
        }
    }
    mount(Some(rootfs), "/", NONE, MsFlags::MS_MOVE, NONE)
        .map_err(pivot_err("move rootfs to /", rootfs))?;
    chroot(".").map_err(pivot_err("chroot", rootfs))?;
    chdir("/").map_err(pivot_err("chdir to /", rootfs))
}

/// rootfsPropagation on the container's / (after the switch, so it cannot affect the host's
/// root mount).
pub(super) fn apply_final_propagation(plan: &RootfsPlan) -> Result<(), RootfsError> {
    match plan.final_root_propagation {
        Some(flags) => propagation(Path::new("/"), flags),
        None => Ok(()),
    }
}
