//! A private place for one engine: a directory, a mount namespace whose /etc, /var/lib, /run
//! and /opt are overlays writing into that directory, and (for dockerd) a network namespace.
//!
//! Engines write to fixed host paths whatever their flags say: podman 4.3 keeps its blob-info
//! cache in /var/lib/containers/cache and bind-mounts network namespaces under /run/netns;
//! dockerd 20.10 writes /etc/docker/key.json and /run/docker, its containerd /opt/containerd and
//! /run/containerd. Inside the sandbox those writes land in the overlays' upper directories, and
//! the overlay mounts of image layers live and die with the namespace, so the host never sees
//! them. Teardown kills, by PID, every process in the namespace or in the sandbox's cgroups,
//! removes the cgroups named after the sandbox and deletes the directory.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The host directories overlaid in the sandbox; a missing one is skipped.
const OVERLAID: [&str; 4] = ["etc", "var/lib", "run", "opt"];

/// One engine's private directory and namespaces; see the module documentation.
pub struct Sandbox {
    name: String,
    dir: PathBuf,
    holder: Option<Child>,
    holder_pid: i32,
    mnt_ns: String,
    /// Keeps the mount namespace, and so its inode number, alive until every process in it is
    /// dead: a freed number is soon reused by a new namespace (another test's container), whose
    /// processes the sweep would then take for ours.
    mnt_ns_fd: Option<File>,
    private_net: bool,
}

impl Sandbox {
    /// A sandbox named `cella-test-<kind>-<pid>-<n>` (the name of its directory in the temp dir
    /// and of its cgroup parent); `private_net` adds a network namespace with only `lo`.
    pub fn new(kind: &str, private_net: bool) -> Sandbox {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("cella-test-{kind}-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let mut sb = Sandbox {
            name,
            dir,
            holder: None,
            holder_pid: 0,
            mnt_ns: String::new(),
            mnt_ns_fd: None,
            private_net,
        };
        sb.start_holder();
        sb
    }

    /// Starts the process that keeps the namespaces alive, after it mounted the overlays.
    fn start_holder(&mut self) {
        let mut script = String::from("set -e\n");
        for d in OVERLAID {
            let host = Path::new("/").join(d);
            if !host.is_dir() || host.is_symlink() {
                continue;
            }
            let ov = self.dir.join("overlay").join(d.replace('/', "-"));
            fs::create_dir_all(ov.join("upper")).unwrap();
            fs::create_dir_all(ov.join("work")).unwrap();
            script.push_str(&format!(
                "mount -t overlay cella-test-overlay -o lowerdir={},upperdir={},workdir={} {}\n",
                host.display(),
                ov.join("upper").display(),
                ov.join("work").display(),
                host.display()
            ));
        }
        if self.private_net {
            script.push_str("ip link set lo up\n");
        }
        script.push_str("echo ready\nexec sleep 2147483647\n");
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private"]);
        if self.private_net {
            cmd.arg("--net");
        }
        let mut child = cmd
            .args(["--", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn unshare for the engine sandbox");
        self.holder_pid = child.id() as i32;
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        self.holder = Some(child);
        assert_eq!(
            line.trim(),
            "ready",
            "the sandbox's namespaces could not be set up"
        );
        let ns = format!("/proc/{}/ns/mnt", self.holder_pid);
        self.mnt_ns_fd = Some(File::open(&ns).expect("open the sandbox's mount namespace"));
        self.mnt_ns = fs::read_link(&ns)
            .map(|l| l.to_string_lossy().into_owned())
            .expect("read the sandbox's mount namespace");
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cgroup parent for the engine's containers: `/<name>` in every hierarchy.
    pub fn cgroup_parent(&self) -> String {
        format!("/{}", self.name)
    }

    /// Where a host path written inside the sandbox ends up (the overlay's upper directory),
    /// e.g. `upper("run")`.
    pub fn upper(&self, host_dir: &str) -> PathBuf {
        self.dir
            .join("overlay")
            .join(host_dir.replace('/', "-"))
            .join("upper")
    }

    /// `program` run inside the sandbox's namespaces (through nsenter, which execs it: the
    /// child's PID is the program's), with HOME and TMPDIR in the sandbox directory.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t").arg(self.holder_pid.to_string()).arg("-m");
        if self.private_net {
            cmd.arg("-n");
        }
        cmd.arg("--").arg(program);
        let home = self.dir.join("home");
        let tmp = self.dir.join("tmp");
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(&tmp).unwrap();
        cmd.env("HOME", home).env("TMPDIR", tmp);
        cmd
    }

    /// Live processes that belong to the sandbox: in its mount namespace, or in a cgroup below
    /// its cgroup parent (containers, which have mount namespaces of their own).
    pub fn processes(&self) -> Vec<i32> {
        let ns = self.mnt_ns_fd.as_ref().map(|_| self.mnt_ns.as_str());
        processes_of(&self.name, ns)
    }

    /// Kills every process of the sandbox by PID, then removes its cgroups and directory.
    /// Idempotent; errors are collected, not raised (it runs from `Drop`).
    pub fn teardown(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let pids = self.processes();
            if pids.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                problems.push(format!("processes survived SIGKILL: {pids:?}"));
                break;
            }
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            if let Some(h) = self.holder.as_mut() {
                if h.try_wait().ok().flatten().is_some() {
                    self.holder = None;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(mut h) = self.holder.take() {
            let _ = h.kill();
            let _ = h.wait();
        }
        // Nothing lives in the namespace any more: let it, and its mounts, go.
        self.mnt_ns_fd = None;
        problems.extend(remove_cgroups(&self.name));
        if self.dir.exists() {
            if let Err(e) = fs::remove_dir_all(&self.dir) {
                problems.push(format!("remove {}: {e}", self.dir.display()));
            }
        }
        problems
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for p in self.teardown() {
            eprintln!("engine sandbox {}: {p}", self.name);
        }
    }
}

/// Live (non-zombie) processes whose mount namespace is `mnt_ns` or whose cgroup path has a
/// component equal to `name`, except the test process itself. (Names are compared whole:
/// cella-test-pd-1-1 is not cella-test-pd-1-10.)
pub fn processes_of(name: &str, mnt_ns: Option<&str>) -> Vec<i32> {
    crate::leftovers::live_processes(|pid| {
        let in_ns = mnt_ns.is_some_and(|ns| {
            fs::read_link(format!("/proc/{pid}/ns/mnt")).is_ok_and(|l| l.to_string_lossy() == ns)
        });
        in_ns || crate::leftovers::in_cgroup_named(pid, |c| c == name)
    })
}

/// The cgroup directories named `name` at the top of each hierarchy under /sys/fs/cgroup.
pub fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut hierarchies = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        hierarchies.extend(
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
    }
    for h in hierarchies {
        let p = h.join(name);
        if p.is_dir() {
            found.push(p);
        }
    }
    found
}

/// Removes the cgroup trees named `name` (deepest first); a cgroup whose last process is
/// still exiting is busy for a moment, so busy ones are retried for a few seconds.
fn remove_cgroups(name: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut errors = Vec::new();
        for top in cgroup_dirs(name) {
            remove_tree(&top, &mut errors);
        }
        if errors.is_empty() || Instant::now() > deadline {
            return errors;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn remove_tree(dir: &Path, errors: &mut Vec<String>) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path(), errors);
            }
        }
    }
    if let Err(e) = fs::remove_dir(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            errors.push(format!("rmdir {}: {e}", dir.display()));
        }
    }
}

/// Cgroup directories below `/<parent>` in any hierarchy (two levels deep) whose name contains
/// `id`: what a removed container must not leave.
pub fn cgroups_naming(parent: &str, id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for top in cgroup_dirs(parent.trim_start_matches('/')) {
        for e in fs::read_dir(&top).into_iter().flatten().flatten() {
            let p = e.path();
            if !p.is_dir() {
                continue;
            }
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(id))
            {
                found.push(p.clone());
            }
            for e2 in fs::read_dir(&p).into_iter().flatten().flatten() {
                if e2.path().is_dir() && e2.file_name().to_string_lossy().contains(id) {
                    found.push(e2.path());
                }
            }
        }
    }
    found
}
