//! A bundle (busybox rootfs + config.json) owned by one test, and its container.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::output::Output;
use crate::runtime::{unique_id, Call, Runtime};

/// The capabilities containerd and Docker give a container by default.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// runc's `spec` output adapted to tests: no terminal, the given args, a writable root,
/// hostname "cella-test", the default capability set of containerd, new pid, ipc, uts, mount,
/// network and cgroup namespaces, runc's default mounts (less the cgroup one) and runc's
/// masked and read-only paths. No cgroupsPath: the runtime's default (named after the id).
pub fn base_config(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "cella-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// A temporary bundle with a busybox rootfs and config.json, and the container of a unique
/// id made from it. Drop force-deletes the container (if the runtime still knows it), lazily
/// unmounts anything left mounted under the bundle, then removes the directory.
pub struct Bundle {
    rt: Runtime,
    id: String,
    dir: TempDir,
    config: Value,
}

impl Bundle {
    /// A bundle running `args` with [`base_config`].
    pub fn new(rt: &Runtime, args: &[&str]) -> Bundle {
        Bundle::with_config(rt, base_config(args))
    }

    pub fn with_config(rt: &Runtime, config: Value) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("cella-test-bundle-")
            .tempdir()
            .unwrap();
        // Readable by all: a user-namespaced container root must traverse to its rootfs.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        rootfs_tools::busybox_rootfs(&dir.path().join("rootfs")).expect("busybox rootfs");
        let b = Bundle {
            rt: rt.clone(),
            id: unique_id(),
            dir,
            config,
        };
        b.write_config();
        b
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn rt(&self) -> &Runtime {
        &self.rt
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn config(&self) -> &Value {
        &self.config
    }

    /// Changes the config and rewrites config.json.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self.write_config();
        self
    }

    fn write_config(&self) {
        let text = serde_json::to_string_pretty(&self.config).unwrap();
        fs::write(self.path().join("config.json"), text).unwrap();
    }

    /// Writes `contents` to `path` inside the rootfs (parents created).
    pub fn write_file(&self, path: &str, contents: &str) -> PathBuf {
        let p = self.rootfs().join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, contents).unwrap();
        p
    }

    /// Writes an executable busybox shell script at `path` inside the rootfs; returns the
    /// path as the container sees it.
    pub fn script(&self, path: &str, body: &str) -> String {
        let p = self.write_file(path, &format!("#!/bin/sh\n{body}\n"));
        fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
        path.to_string()
    }

    /// Replaces config.json with `text` as is (for malformed configs).
    pub fn write_raw_config(&self, text: &str) {
        fs::write(self.path().join("config.json"), text).unwrap();
    }

    /// `create --bundle B [extra] ID`, stdin /dev/null; the container inherits files that
    /// [`Output::stdout_now`] rereads.
    pub fn create(&self) -> Output {
        self.create_with(&[])
    }

    pub fn create_with(&self, extra: &[&str]) -> Output {
        self.call("create", extra).output()
    }

    /// `run --bundle B [extra] ID` in the foreground, to completion.
    pub fn run(&self) -> Output {
        self.run_with(&[])
    }

    pub fn run_with(&self, extra: &[&str]) -> Output {
        self.call("run", extra).output()
    }

    /// `<subcommand> --bundle B [extra] ID` ready to spawn or to get stdin/fds first.
    pub fn call(&self, subcommand: &str, extra: &[&str]) -> Call {
        let bundle = self.path().to_string_lossy().into_owned();
        let mut args = vec![subcommand, "--bundle", &bundle];
        args.extend_from_slice(extra);
        args.push(&self.id);
        self.rt.call(&args)
    }

    pub fn start(&self) -> Output {
        self.rt.start(&self.id)
    }

    #[track_caller]
    pub fn state(&self) -> Value {
        self.rt.state(&self.id)
    }

    #[track_caller]
    pub fn status(&self) -> String {
        self.rt.status(&self.id)
    }

    /// The container's init pid on the host, from `state`.
    #[track_caller]
    pub fn pid(&self) -> i32 {
        let pid = self.state()["pid"]
            .as_i64()
            .expect("state has a numeric pid");
        i32::try_from(pid).unwrap()
    }

    #[track_caller]
    pub fn wait_status(&self, want: &str) {
        self.rt.wait_status(&self.id, want, Duration::from_secs(20));
    }

    pub fn kill(&self, signal: &str) -> Output {
        self.rt.kill(&self.id, signal)
    }

    pub fn delete(&self) -> Output {
        self.rt.delete(&self.id)
    }

    pub fn delete_force(&self) -> Output {
        self.rt.delete_force(&self.id)
    }

    /// What the container left on the host; see [`crate::leftovers`].
    pub fn leftovers(&self) -> Vec<String> {
        let cg = self.config["linux"]["cgroupsPath"].as_str();
        crate::leftovers(&self.rt, &self.id, self.path(), cg)
    }

    /// Removes by hand what a runtime leaked (after a runtime was SIGKILLed, or runc's known
    /// leaks): SIGKILLs the container's processes by PID, removes its (then empty) cgroup
    /// directories and its state dir. Returns what it removed. Only touches things named
    /// after this test's unique id or rooted in this bundle.
    pub fn scrub(&self) -> Vec<String> {
        let mut removed = Vec::new();
        let pids = crate::leftovers::container_processes(&self.id, &self.rootfs());
        for &pid in &pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            removed.push(format!("process {pid}"));
        }
        let cg = self.config["linux"]["cgroupsPath"].as_str();
        let mut dirs = crate::leftovers::cgroup_dirs(&self.id, cg);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.as_os_str().len()));
        for d in dirs {
            // A killed process leaves its cgroup only once it is reaped: retry briefly.
            for _ in 0..100 {
                if fs::remove_dir(&d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            removed.push(format!("cgroup {}", d.display()));
        }
        let state = self.rt.root().join(&self.id);
        if state.exists() {
            let _ = fs::remove_dir_all(&state);
            removed.push(format!("state dir {}", state.display()));
        }
        removed
    }

    /// After a refused or failed command: nothing left behind, and `list` shows no container.
    #[track_caller]
    pub fn assert_clean(&self) {
        self.assert_no_leftovers();
        let list = self.rt.list(&["-q"]);
        list.ok();
        assert_eq!(list.stdout.trim(), "", "{list:?}");
    }

    /// Panics with the list of leftovers, if any is still there after two seconds (a killed
    /// process needs a moment to die and be reaped).
    #[track_caller]
    pub fn assert_no_leftovers(&self) {
        let mut found = self.leftovers();
        let start = std::time::Instant::now();
        while !found.is_empty() && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(20));
            found = self.leftovers();
        }
        assert!(
            found.is_empty(),
            "container {} left behind:\n{}",
            self.id,
            found.join("\n")
        );
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        if self.rt.root().join(&self.id).exists() {
            let running = self.rt.call(&["delete", "--force", &self.id]).spawn();
            match running.finish(Duration::from_secs(30)) {
                Ok(out) if !out.success() => eprintln!("cleanup of {} failed:\n{out:?}", self.id),
                Ok(_) => {}
                Err(e) => eprintln!("cleanup of {} failed: {e}", self.id),
            }
        }
        let scrubbed = self.scrub();
        if !scrubbed.is_empty() {
            eprintln!("cleanup of {} had to remove: {scrubbed:?}", self.id);
        }
        let bundle = self.path().to_string_lossy().into_owned();
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = mountinfo
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&bundle))
            .collect();
        // Deepest first, so parents are not busy.
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            eprintln!("cleanup: unmounting leftover {p}");
            let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}
