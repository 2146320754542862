//! TEMPORARY minimal rootfs used only until the real module is merged.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::Spec;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{0}: {1}")]
    Sys(String, nix::errno::Errno),
}

#[derive(Debug, Clone)]
pub enum CgroupView {
    None,
}

pub struct RootfsOptions {
    pub no_pivot: bool,
    pub new_user_ns: bool,
    pub new_cgroup_ns: bool,
    pub cgroup: CgroupView,
}

#[derive(Debug)]
pub struct RootfsPlan {
    rootfs: PathBuf,
    mounts: Vec<(PathBuf, String, Option<PathBuf>)>,
}

pub fn plan(spec: &Spec, rootfs: &Path, _opts: RootfsOptions) -> Result<RootfsPlan, RootfsError> {
    let mounts = spec
        .mounts()
        .iter()
        .flatten()
        .map(|m| {
            (
                m.destination().clone(),
                m.typ().clone().unwrap_or_default(),
                m.source().clone(),
            )
        })
        .collect();
    Ok(RootfsPlan {
        rootfs: rootfs.to_owned(),
        mounts,
    })
}

fn e(what: &str) -> impl Fn(nix::errno::Errno) -> RootfsError + '_ {
    move |err| RootfsError::Sys(what.to_owned(), err)
}

impl RootfsPlan {
    pub fn prepare(&self) -> Result<(), RootfsError> {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(e("slave /"))?;
        mount(
            Some(&self.rootfs),
            &self.rootfs,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(e("bind rootfs"))?;
        for (dest, typ, src) in &self.mounts {
            let target = self.rootfs.join(dest.strip_prefix("/").unwrap_or(dest));
            let _ = std::fs::create_dir_all(&target);
            if typ == "bind" {
                mount(
                    src.as_deref(),
                    &target,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(e("bind"))?;
            } else {
                let src = src.clone().unwrap_or_else(|| PathBuf::from(typ));
                mount(
                    Some(&src),
                    &target,
                    Some(typ.as_str()),
                    MsFlags::empty(),
                    None::<&str>,
                )
                .map_err(e(typ))?;
            }
        }
        Ok(())
    }

    pub fn enter(&self) -> Result<(), RootfsError> {
        nix::unistd::chdir(&self.rootfs).map_err(e("chdir"))?;
        nix::unistd::pivot_root(".", ".").map_err(e("pivot_root"))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(e("umount old root"))?;
        nix::unistd::chdir("/").map_err(e("chdir /"))?;
        Ok(())
    }

    pub fn finalize(&self) -> Result<(), RootfsError> {
        Ok(())
    }
}
