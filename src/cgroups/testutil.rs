//! Fake cgroup hosts in temporary directories for unit tests: the mount points as plain
//! directories, mountinfo and /proc/self/cgroup as files. Control files a test needs are
//! created by the test, standing in for the kernel.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};

use super::mountinfo::parse_mountinfo;
use super::path::CgroupSources;
use super::Manager;

/// Verbatim from this (hybrid) build machine.
pub const HYBRID: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

/// A typical systemd host with cgroup v2 only (Fedora/Debian 12 style).
pub const PURE_V2: &str = "\
21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
30 21 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
31 21 0:27 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw
";

/// /proc/self/cgroup of a process on the hybrid machine above.
pub const HYBRID_OWN: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/817d
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

pub struct FakeHost {
    _dir: tempfile::TempDir,
    pub sources: CgroupSources,
}

impl FakeHost {
    pub fn new(mountinfo: &str, self_cgroup: &str) -> FakeHost {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cgroup");
        for mount in parse_mountinfo(mountinfo).unwrap().mounts {
            fs::create_dir_all(root.join(&mount.dir)).unwrap();
        }
        let sources = CgroupSources {
            root,
            mountinfo: dir.path().join("mountinfo"),
            self_cgroup: dir.path().join("cgroup.self"),
        };
        fs::write(&sources.mountinfo, mountinfo).unwrap();
        fs::write(&sources.self_cgroup, self_cgroup).unwrap();
        FakeHost { _dir: dir, sources }
    }

    pub fn hybrid() -> FakeHost {
        let host = FakeHost::new(HYBRID, HYBRID_OWN);
        fs::create_dir_all(host.root().join("memory/process_api/817d")).unwrap();
        host
    }

    pub fn unified(own: &str) -> FakeHost {
        FakeHost::new(PURE_V2, own)
    }

    pub fn root(&self) -> &Path {
        &self.sources.root
    }

    pub fn manager(&self, cgroups_path: Option<&str>, id: &str) -> Manager {
        Manager::new(&self.sources.config(cgroups_path, id).unwrap()).unwrap()
    }
}

/// Writes a control file as the kernel would show it.
pub fn put(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, content).unwrap();
    path
}

pub fn get(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap()
}

/// A child that sleeps; tests kill it.
pub fn sleeper() -> Child {
    Command::new("sleep").arg("60").spawn().unwrap()
}

/// Privileged tests: a cgroup on the real host named /cella-test-<pid>-<n> in every hierarchy,
/// destroyed (and its child killed) on drop, so a failing assertion leaves nothing behind.
pub struct HostCgroup {
    pub manager: Manager,
    pub child: Option<Child>,
}

impl HostCgroup {
    /// `None` (test skipped) unless running as root.
    pub fn create() -> Option<HostCgroup> {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "/cella-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let config = CgroupSources::default()
            .config(Some(&name), "smoke")
            .unwrap();
        let mut manager = Manager::new(&config).unwrap();
        let created = manager.create();
        let guard = HostCgroup {
            manager,
            child: None,
        };
        created.unwrap();
        Some(guard)
    }
}

impl Drop for HostCgroup {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Err(e) = self.manager.destroy() {
            eprintln!("cleanup of {:?}: {e}", self.manager.leaf_dirs());
        }
    }
}
