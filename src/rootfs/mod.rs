//! The container's root filesystem: mounts, devices, pivot_root, masked and readonly paths.
//!
//! [`plan`] turns the spec into a [`RootfsPlan`] before any fork; every configuration error
//! surfaces there. The container's init process then runs, inside its new mount namespace:
//!
//! 1. [`RootfsPlan::prepare`] before the createRuntime/prestart hooks: / made rslave (or
//!    rootfsPropagation), the rootfs bound onto itself, every `mounts` entry in order, /dev.
//! 2. [`RootfsPlan::enter`] after the createContainer hooks: pivot_root (or move + chroot with
//!    `--no-pivot`), then rootfsPropagation on the new /.
//! 3. [`RootfsPlan::finalize`]: read-only remounts, root.readonly, sysctl, readonlyPaths,
//!    maskedPaths.
//!
//! Every path inside the rootfs is resolved with `pathrs` (symlinks are followed but can never
//! leave the rootfs) and mounts are attached to the resolved file descriptor, never to a path
//! string the container could redirect.
//!
//! Idmapped bind mounts need CAP_SYS_ADMIN in the user namespace that owns the source's
//! filesystem (the host's), which the container's init no longer has once it is in its own user
//! namespace: the runtime creates them on the host with [`RootfsPlan::open_idmapped_mounts`] and
//! hands the descriptors to `prepare`.
#![allow(dead_code)]

mod copyup;
mod devices;
mod finalize;
mod idmap;
mod inroot;
mod mountinfo;
mod mounts;
mod options;
mod pivot;
mod plan;
mod types;

use std::path::PathBuf;

use nix::errno::Errno;

#[allow(unused_imports)]
pub use idmap::IdmappedMounts;
#[allow(unused_imports)]
pub use options::{parse_mount_options, MountOptions, PropagationChange, RecursiveAttr};
#[allow(unused_imports)]
pub use plan::plan;
#[allow(unused_imports)]
pub use types::{
    BindMount, CgroupHierarchy, CgroupMount, CgroupView, DevSetup, DeviceKind, DeviceNode, FsMount,
    IdMappings, Idmap, MountEntry, MountKind, RootfsOptions, RootfsPlan, Sysctl,
};

/// Errors of planning (configuration) and of the steps run in the container's init. Every
/// runtime variant names the operation and path and keeps the errno ([`RootfsError::errno`]).
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("invalid mount {destination:?}: {reason}")]
    InvalidMount {
        destination: PathBuf,
        reason: String,
    },
    #[error("invalid device {path:?}: {reason}")]
    InvalidDevice { path: PathBuf, reason: String },
    #[error("invalid rootfsPropagation {0:?}")]
    InvalidRootPropagation(String),
    #[error("invalid sysctl key {key:?}")]
    InvalidSysctl { key: String },
    #[error("invalid {field} entry {path:?}: {reason}")]
    InvalidPath {
        field: &'static str,
        path: PathBuf,
        reason: &'static str,
    },

    #[error("set propagation of {path:?} to {flags}: {}", errstr(*errno))]
    Propagation {
        path: PathBuf,
        flags: String,
        errno: Errno,
    },
    #[error("read mountinfo: {0}")]
    Mountinfo(#[source] std::io::Error),
    #[error("{op} {path:?} in rootfs: {source}")]
    Path {
        op: &'static str,
        path: PathBuf,
        source: pathrs::error::Error,
    },
    #[error("error mounting {src:?} to rootfs at {destination:?}: {step}: {}", errstr(*errno))]
    Mount {
        step: &'static str,
        src: String,
        destination: PathBuf,
        errno: Errno,
    },
    #[error("mount {destination:?}: no idmapped source was opened for it")]
    MissingIdmapSource { destination: PathBuf },
    #[error("create device {path:?}: {step}: {}", errstr(*errno))]
    Device {
        step: &'static str,
        path: PathBuf,
        errno: Errno,
    },
    #[error("create device {path:?}: a different file already exists there")]
    DeviceMismatch { path: PathBuf },
    #[error("tmpcopyup to {destination:?}: {path:?}: {}", errstr(*errno))]
    CopyUp {
        destination: PathBuf,
        path: PathBuf,
        errno: Errno,
    },
    #[error("jail into {rootfs:?}: {step}: {}", errstr(*errno))]
    Pivot {
        step: &'static str,
        rootfs: PathBuf,
        errno: Errno,
    },
    #[error("remount {path:?} read-only: {}", errstr(*errno))]
    RemountReadonly { path: PathBuf, errno: Errno },
    #[error("write sysctl {key:?}: {step}: {}", errstr(*errno))]
    Sysctl {
        key: String,
        step: &'static str,
        errno: Errno,
    },
    #[error("make {path:?} read-only: {step}: {}", errstr(*errno))]
    ReadonlyPath {
        path: PathBuf,
        step: &'static str,
        errno: Errno,
    },
    #[error("mask {path:?}: {step}: {}", errstr(*errno))]
    MaskPath {
        path: PathBuf,
        step: &'static str,
        errno: Errno,
    },
    #[error("open idmapped source for {destination:?}: {step}: {}", errstr(*errno))]
    Idmap {
        destination: PathBuf,
        step: &'static str,
        errno: Errno,
    },
}

impl RootfsError {
    /// The errno behind a runtime error (`EINVAL` for configuration errors).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::InvalidMount { .. }
            | Self::InvalidDevice { .. }
            | Self::InvalidRootPropagation(_)
            | Self::InvalidSysctl { .. }
            | Self::InvalidPath { .. }
            | Self::MissingIdmapSource { .. } => Some(libc::EINVAL),
            Self::DeviceMismatch { .. } => Some(libc::EEXIST),
            Self::Mountinfo(e) => e.raw_os_error(),
            Self::Path { source, .. } => pathrs_errno(source),
            Self::Propagation { errno, .. }
            | Self::Mount { errno, .. }
            | Self::Device { errno, .. }
            | Self::CopyUp { errno, .. }
            | Self::Pivot { errno, .. }
            | Self::RemountReadonly { errno, .. }
            | Self::Sysctl { errno, .. }
            | Self::ReadonlyPath { errno, .. }
            | Self::MaskPath { errno, .. }
            | Self::Idmap { errno, .. } => Some(*errno as i32),
        }
    }
}

/// An errno as Go and runc print it: "operation not permitted".
pub(crate) fn errstr(errno: Errno) -> String {
    let desc = errno.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("errno {}", errno as i32),
    }
}

pub(crate) fn pathrs_errno(err: &pathrs::error::Error) -> Option<i32> {
    match err.kind() {
        pathrs::error::ErrorKind::OsError(errno) => errno,
        pathrs::error::ErrorKind::SafetyViolation => Some(libc::EXDEV),
        pathrs::error::ErrorKind::InvalidArgument => Some(libc::EINVAL),
        pathrs::error::ErrorKind::NotSupported | pathrs::error::ErrorKind::NotImplemented => {
            Some(libc::ENOSYS)
        }
        _ => None,
    }
}

impl RootfsPlan {
    /// Whether a `cgroup` mount is planned: it shows the cgroup namespace's root, so the
    /// process must be in its cgroups (and its cgroup namespace made) before [`Self::prepare`].
    pub fn has_cgroup_mounts(&self) -> bool {
        self.mounts
            .iter()
            .any(|m| matches!(m.kind, MountKind::Cgroup(_)))
    }

    /// Run in the container's init, inside its new mount namespace, before the
    /// createRuntime/prestart hooks: root propagation, the rootfs bound onto itself, every mount
    /// of the spec in order, then /dev (devices, /dev/ptmx, /dev/fd and std* links) unless /dev
    /// is a bind mount. `idmapped` holds the sources from [`RootfsPlan::open_idmapped_mounts`]
    /// (empty when the spec has no idmapped mount).
    pub fn prepare(&self, idmapped: IdmappedMounts) -> Result<(), RootfsError> {
        pivot::prepare_root(self)?;
        let root = mounts::open_root(&self.rootfs)?;
        // /proc must be a real directory of the rootfs: a symlink would make the container's
        // procfs appear elsewhere and every later /proc lookup (ours and pathrs's) resolve
        // through the image's link (CVE-2019-16884 class). Refused, as runc does.
        if self
            .mounts
            .iter()
            .any(|m| m.destination == std::path::Path::new("/proc"))
            && mounts::is_symlink(&root, std::path::Path::new("/proc"))
        {
            return Err(RootfsError::InvalidMount {
                destination: PathBuf::from("/proc"),
                reason: "it is a symlink in the rootfs; /proc must be a directory".into(),
            });
        }
        let mut idmapped = idmapped;
        for (index, entry) in self.mounts.iter().enumerate() {
            let tree = match &entry.kind {
                MountKind::Bind(BindMount { idmap: Some(_), .. }) => Some(
                    idmapped
                        .take(index)
                        .ok_or_else(|| RootfsError::MissingIdmapSource {
                            destination: entry.destination.clone(),
                        })?,
                ),
                _ => None,
            };
            mounts::mount_entry(&root, &self.rootfs, entry, tree)?;
        }
        if let Some(dev) = &self.dev {
            devices::setup_dev(&root, dev)?;
        }
        if let Some(cwd) = &self.cwd {
            mounts::mkdir_all(&root, cwd)?;
        }
        Ok(())
    }

    /// Run after the createContainer hooks: pivot_root into the rootfs (or, with `no_pivot`,
    /// move it onto / and chroot), leaving the process in the new / with the old root gone.
    pub fn enter(&self) -> Result<(), RootfsError> {
        if self.no_pivot {
            pivot::move_root(&self.rootfs)?;
        } else {
            pivot::pivot_root(&self.rootfs)?;
        }
        pivot::apply_final_propagation(self)
    }

    /// Run after [`RootfsPlan::enter`], inside the new root: read-only remounts of tmpfs and
    /// /dev mounts with `ro`, root.readonly, sysctl writes, readonlyPaths, maskedPaths (in
    /// runc's order).
    pub fn finalize(&self) -> Result<(), RootfsError> {
        finalize::finalize(self)
    }
}

#[cfg(test)]
mod privileged_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_like_runc_and_keep_the_errno() {
        let err = RootfsError::Mount {
            step: "mount",
            src: "proc".into(),
            destination: "/proc".into(),
            errno: Errno::EPERM,
        };
        assert_eq!(
            err.to_string(),
            "error mounting \"proc\" to rootfs at \"/proc\": mount: operation not permitted"
        );
        assert_eq!(err.errno(), Some(libc::EPERM));
        let err = RootfsError::Pivot {
            step: "pivot_root",
            rootfs: "/r".into(),
            errno: Errno::EINVAL,
        };
        assert_eq!(
            err.to_string(),
            "jail into \"/r\": pivot_root: invalid argument"
        );
        assert_eq!(
            RootfsError::InvalidSysctl { key: "a".into() }.errno(),
            Some(libc::EINVAL)
        );
    }
}
