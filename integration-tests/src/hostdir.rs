//! A directory on the host for one test, and the host mounts the test makes in it.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use tempfile::TempDir;

/// A temporary directory on the host, outside every bundle (`cella-test-host-*`). Mounts made
/// through it (or handed to [`HostDir::adopt_mount`]) are lazily unmounted on drop, deepest
/// last-made first, before the directory is removed, so a failing test leaves none behind.
pub struct HostDir {
    dir: TempDir,
    mounts: Vec<PathBuf>,
}

impl HostDir {
    pub fn new() -> HostDir {
        let dir = tempfile::Builder::new()
            .prefix("cella-test-host-")
            .tempdir()
            .unwrap();
        HostDir {
            dir,
            mounts: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bind-mounts the directory onto itself and makes it a shared mount.
    pub fn make_shared(&mut self) {
        let p = self.path().to_path_buf();
        self.bind_shared(&p);
    }

    /// Bind-mounts `p` onto itself and makes it a shared mount.
    pub fn bind_shared(&mut self, p: &Path) {
        mount(Some(p), p, None::<&str>, MsFlags::MS_BIND, None::<&str>).unwrap();
        self.mounts.push(p.to_path_buf());
        mount(
            None::<&str>,
            p,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )
        .unwrap();
    }

    /// Mounts a 1 MiB tmpfs at `p` (created if missing).
    pub fn mount_tmpfs(&mut self, p: &Path) {
        fs::create_dir_all(p).unwrap();
        mount(
            Some("tmpfs"),
            p,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=1m"),
        )
        .unwrap();
        self.mounts.push(p.to_path_buf());
    }

    /// Unmounts `p` on drop too: for a mount that reached this directory some other way
    /// (e.g. propagated back from a container).
    pub fn adopt_mount(&mut self, p: &Path) {
        self.mounts.push(p.to_path_buf());
    }
}

impl Default for HostDir {
    fn default() -> Self {
        HostDir::new()
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        for p in self.mounts.iter().rev() {
            let _ = umount2(p, MntFlags::MNT_DETACH);
        }
    }
}
