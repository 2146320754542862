//! Idmapped bind mounts. MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN in the user namespace owning the
//! source's filesystem (the host's) and can only be set on a detached mount, so the runtime
//! makes these mounts on the host side, before the container's init reaches `prepare`: it clones
//! each source with open_tree, applies the mapping, and hands the detached mounts to `prepare`,
//! which only attaches them (move_mount needs no privilege over the source).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use super::types::{BindMount, MountKind, RootfsPlan};
use super::RootfsError;
use crate::sys::idmap_userns::userns_with_mappings;
use crate::sys::mount::{self as sysmount, MountAttr, AT_RECURSIVE, OPEN_TREE_CLONE};

/// Detached, idmapped mounts for the plan's idmapped bind mounts, keyed by mount index.
#[derive(Debug, Default)]
pub struct IdmappedMounts {
    mounts: Vec<(usize, OwnedFd)>,
}

impl IdmappedMounts {
    /// The (mount index, detached mount) pairs, e.g. to send over a socket with SCM_RIGHTS.
    pub fn into_fds(self) -> Vec<(usize, OwnedFd)> {
        self.mounts
    }

    /// Rebuild from pairs received from [`IdmappedMounts::into_fds`].
    pub fn from_fds(mounts: Vec<(usize, OwnedFd)>) -> Self {
        Self { mounts }
    }

    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty()
    }

    pub(super) fn take(&mut self, index: usize) -> Option<OwnedFd> {
        let position = self.mounts.iter().position(|(i, _)| *i == index)?;
        Some(self.mounts.swap_remove(position).1)
    }
}

impl RootfsPlan {
    /// Whether [`RootfsPlan::open_idmapped_mounts`] has anything to do.
    pub fn has_idmapped_mounts(&self) -> bool {
        self.mounts
            .iter()
            .any(|m| matches!(&m.kind, MountKind::Bind(b) if b.idmap.is_some()))
    }

    /// Run by the runtime on the host (host user and mount namespace, CAP_SYS_ADMIN), before
    /// the container's init calls `prepare`. `container_userns` is the container's user
    /// namespace (e.g. /proc/<init pid>/ns/user once its mappings are written), required by
    /// idmapped mounts without mappings of their own; mounts with `uidMappings`/`gidMappings`
    /// get a new user namespace carrying those (a short-lived helper child is forked for it).
    pub fn open_idmapped_mounts(
        &self,
        container_userns: Option<BorrowedFd<'_>>,
    ) -> Result<IdmappedMounts, RootfsError> {
        let mut out = IdmappedMounts::default();
        for (index, entry) in self.mounts.iter().enumerate() {
            let MountKind::Bind(
                bind @ BindMount {
                    idmap: Some(idmap), ..
                },
            ) = &entry.kind
            else {
                continue;
            };
            let err = |step: &'static str| {
                let destination: PathBuf = entry.destination.clone();
                move |errno| RootfsError::Idmap {
                    destination,
                    step,
                    errno,
                }
            };
            let own_userns = match &idmap.mappings {
                Some(m) => Some(
                    userns_with_mappings(&m.uid_map, &m.gid_map)
                        .map_err(|e| err(e.step)(e.errno))?,
                ),
                None => None,
            };
            let userns = match (&own_userns, container_userns) {
                (Some(own), _) => own.as_fd(),
                (None, Some(container)) => container,
                (None, None) => {
                    return Err(err("container user namespace")(nix::errno::Errno::EINVAL))
                }
            };
            let clone_flags = OPEN_TREE_CLONE | if bind.recursive { AT_RECURSIVE } else { 0 };
            let tree = sysmount::open_tree(&bind.source, clone_flags).map_err(err("open_tree"))?;
            let attr = MountAttr {
                set: libc::MOUNT_ATTR_IDMAP,
                userns: Some(userns),
                ..Default::default()
            };
            sysmount::mount_setattr(tree.as_fd(), idmap.recursive, &attr)
                .map_err(err("set idmap"))?;
            out.mounts.push((index, tree));
        }
        Ok(out)
    }
}
