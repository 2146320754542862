//! A private containerd that runs its containers through the runtime under test.
//!
//! [`Containerd::start`] writes its own config.toml under a fresh `cella-test-*` directory
//! (root, state, sockets, `opt` path, runtime state) and starts the daemon in a private mount
//! namespace with a tmpfs on /run: containerd 1.6's shims put their sockets under
//! /run/containerd/s whatever the config says, and the host's /run/containerd stays untouched.
//! Containers get cgroups under `/<tag>` (ctr's namespace is the tag, CRI pods use it as cgroup
//! parent). Dropping the guard (or [`Containerd::stop`]) deletes the tasks, stops the daemon by
//! PID, kills what is left of ours and removes mounts, cgroups and directories.

mod cleanup;
mod config;

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

pub use crate::engine_image::{make_image, shell_line};
pub use cleanup::in_tagged_cgroup;
pub use config::{config_toml, BUSYBOX_IMAGE, CRI_HANDLER, PAUSE_IMAGE};

use crate::output::{Output, Running};
use crate::runtime::{runtime_path, unique_id};

/// The namespace containerd's CRI plugin keeps its pods, containers and images in.
pub const CRI_NAMESPACE: &str = "k8s.io";

/// One ctr call's default time limit.
pub const CTR_TIMEOUT: Duration = Duration::from_secs(30);

/// What marks everything a [`Containerd`] made: its private directory, its tag (first cgroup
/// path component) and its mount namespace. Outlives the guard, to check after it is gone.
/// It holds the namespace open, so that no later namespace gets its inode number.
#[derive(Debug, Clone)]
pub struct Marks {
    pub dir: PathBuf,
    pub tag: String,
    mnt_ns: Option<Arc<File>>,
}

impl Marks {
    fn ns_id(&self) -> Option<cleanup::NsId> {
        let m = self.mnt_ns.as_ref()?.metadata().ok()?;
        Some((m.dev(), m.ino()))
    }

    /// What is on the host now with these marks: processes, mounts, cgroups, the directory.
    pub fn leftovers(&self) -> Vec<String> {
        cleanup::leftovers(&self.dir, &self.tag, self.ns_id())
    }
}

/// A running private containerd; see the module docs.
pub struct Containerd {
    tag: String,
    dir: Option<TempDir>,
    path: PathBuf,
    runtime: PathBuf,
    cri: bool,
    daemon: Option<Child>,
    mnt_ns: Option<Arc<File>>,
}

/// Panics naming the Debian package when a host program the engine tests need is missing.
pub fn require_programs() {
    let path = std::env::var("PATH").unwrap_or_default();
    for (prog, package) in [
        ("containerd", "containerd"),
        ("ctr", "containerd"),
        ("containerd-shim-runc-v2", "containerd"),
        ("unshare", "util-linux"),
        ("script", "bsdutils"),
    ] {
        let found = path.split(':').any(|d| Path::new(d).join(prog).is_file());
        assert!(
            found,
            "{prog} is not installed: `apt-get install {package}` (scripts/test-all.sh does it)"
        );
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "the containerd tests run containers: run them as root"
    );
}

impl Containerd {
    /// Starts the daemon (with the CRI plugin when `cri`), imports [`BUSYBOX_IMAGE`] into the
    /// test's namespace and, with `cri`, both images into [`CRI_NAMESPACE`].
    pub fn start(cri: bool) -> Containerd {
        require_programs();
        let tag = unique_id();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{tag}-containerd-"))
            .tempdir()
            .expect("private containerd dir");
        let path = dir.path().to_path_buf();
        for sub in ["fifo", "runc", "io", "logs"] {
            fs::create_dir(path.join(sub)).unwrap();
        }
        let runtime = runtime_path();
        assert!(
            runtime.is_file(),
            "runtime under test {} not found: run `cargo build --bin cella` or set CELLA_RUNTIME",
            runtime.display()
        );
        fs::write(path.join("config.toml"), config_toml(&path, &runtime, cri)).unwrap();
        let mut d = Containerd {
            tag,
            dir: Some(dir),
            path,
            runtime,
            cri,
            daemon: None,
            mnt_ns: None,
        };
        d.launch();
        d.import(&d.tag.clone(), BUSYBOX_IMAGE, None);
        if cri {
            d.import(CRI_NAMESPACE, BUSYBOX_IMAGE, None);
            d.import(CRI_NAMESPACE, PAUSE_IMAGE, Some(r#"["sleep","1000000"]"#));
        }
        d
    }

    fn launch(&mut self) {
        let log = File::create(self.path.join("containerd.log")).unwrap();
        // unshare without --fork execs in place: the child's PID is containerd's.
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o mode=0755 cella-test-run /run && exec containerd --config \"$0\"")
            .arg(self.path.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn containerd");
        let pid = child.id();
        self.daemon = Some(child);
        let start = Instant::now();
        loop {
            if let Some(status) = self.daemon.as_mut().unwrap().try_wait().unwrap() {
                panic!("containerd exited ({status}):\n{}", self.daemon_log());
            }
            let out = self
                .ctr_call(&self.tag.clone(), &["version"])
                .timeout(Duration::from_secs(5))
                .output();
            if out.success() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "containerd not ready after 20s:\n{out:?}\n{}",
                self.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let ns = File::open(format!("/proc/{pid}/ns/mnt")).expect("containerd's mount ns");
        let (theirs, ours) = (
            ns.metadata().unwrap(),
            fs::metadata("/proc/self/ns/mnt").unwrap(),
        );
        assert_ne!(
            theirs.ino(),
            ours.ino(),
            "containerd must run in a mount namespace of its own"
        );
        self.mnt_ns = Some(Arc::new(ns));
        if self.cri {
            // containerd serves without a plugin that failed to load; say why here.
            let plugins = self.ctr(&["plugins", "ls"]);
            let cri_ok = plugins.stdout.lines().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.get(1) == Some(&"cri") && cols.last() == Some(&"ok")
            });
            assert!(
                cri_ok,
                "the CRI plugin did not load:\n{}",
                self.daemon_log()
            );
        }
    }

    /// Builds an image archive with make-image.sh and imports it into `namespace`.
    pub fn import(&self, namespace: &str, reference: &str, cmd: Option<&str>) {
        let name = reference.rsplit('/').next().unwrap().replace(':', "-");
        let archive = self.path.join(format!("{name}.tar"));
        if !archive.exists() {
            make_image(&archive, reference, cmd);
        }
        let archive = archive.to_string_lossy().into_owned();
        self.ctr_in(namespace, &["images", "import", &archive]).ok();
    }

    pub fn marks(&self) -> Marks {
        Marks {
            dir: self.path.clone(),
            tag: self.tag.clone(),
            mnt_ns: self.mnt_ns.clone(),
        }
    }

    /// The test's unique tag: ctr namespace and top-level cgroup name.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The private directory everything of this daemon lives under.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    pub fn socket(&self) -> PathBuf {
        self.path.join("containerd.sock")
    }

    /// The runtime under test (the runc.v2 shim's BinaryName).
    pub fn runtime(&self) -> &Path {
        &self.runtime
    }

    /// The runtime's `--root` (runc.v2 option `Root`).
    pub fn runtime_root(&self) -> PathBuf {
        self.path.join("runc")
    }

    pub fn fifo_dir(&self) -> PathBuf {
        self.path.join("fifo")
    }

    /// A directory for CRI pod logs.
    pub fn log_dir(&self) -> PathBuf {
        self.path.join("logs")
    }

    /// `ctr run`'s flags that send it through the runtime under test.
    pub fn run_flags(&self) -> Vec<String> {
        vec![
            "--runtime".into(),
            "io.containerd.runc.v2".into(),
            "--runc-binary".into(),
            self.runtime.display().to_string(),
            "--runc-root".into(),
            self.runtime_root().display().to_string(),
            "--fifo-dir".into(),
            self.fifo_dir().display().to_string(),
        ]
    }

    /// `ctr` in the test's namespace, run to completion.
    pub fn ctr<S: AsRef<str>>(&self, args: &[S]) -> Output {
        self.ctr_in(&self.tag, args)
    }

    pub fn ctr_in<S: AsRef<str>>(&self, namespace: &str, args: &[S]) -> Output {
        self.ctr_call(namespace, args).output()
    }

    /// A `ctr --address SOCK --namespace NS ARGS` call to set up further.
    pub fn ctr_call<S: AsRef<str>>(&self, namespace: &str, args: &[S]) -> CtrCall {
        let mut all = vec![
            "ctr".to_string(),
            "--address".into(),
            self.socket().display().to_string(),
            "--namespace".into(),
            namespace.to_string(),
        ];
        all.extend(args.iter().map(|a| a.as_ref().to_string()));
        CtrCall {
            args: all,
            io: self.path.join("io"),
            stdin: None,
            tty: false,
            timeout: CTR_TIMEOUT,
        }
    }

    /// containerd's own log, for failure messages.
    pub fn daemon_log(&self) -> String {
        fs::read_to_string(self.path.join("containerd.log")).unwrap_or_default()
    }

    /// Stops everything and returns what is left of it (empty when clean).
    pub fn stop(mut self) -> Vec<String> {
        self.teardown()
    }

    fn teardown(&mut self) -> Vec<String> {
        if self.daemon.is_some() {
            let mut namespaces = vec![self.tag.clone()];
            if self.cri {
                namespaces.push(CRI_NAMESPACE.to_string());
            }
            for ns in &namespaces {
                self.delete_all(ns);
            }
            self.stop_daemon();
        }
        let marks = self.marks();
        cleanup::sweep(&self.path, &self.tag, marks.ns_id());
        // The TempDir's own removal would find nothing left; forget it either way.
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        marks.leftovers()
    }

    /// Deletes every task (resumed first if paused, then killed) and container of `ns`, so the
    /// shims exit and containerd unmounts the rootfs mounts.
    fn delete_all(&self, ns: &str) {
        let quick = |args: &[&str]| {
            self.ctr_call(ns, args)
                .timeout(Duration::from_secs(10))
                .spawn()
                .finish(Duration::from_secs(10))
        };
        if let Ok(tasks) = quick(&["task", "ls"]) {
            for line in tasks.stdout.lines().skip(1) {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let (Some(id), Some(status)) = (cols.first(), cols.get(2)) else {
                    continue;
                };
                if *status == "PAUSED" {
                    let _ = quick(&["task", "resume", id]);
                }
                let _ = quick(&["task", "delete", "--force", id]);
            }
        }
        if let Ok(containers) = quick(&["container", "ls", "-q"]) {
            for id in containers.stdout.split_whitespace() {
                let _ = quick(&["container", "delete", id]);
            }
        }
    }

    fn stop_daemon(&mut self) {
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.dir.is_none() && self.daemon.is_none() {
            return;
        }
        if std::thread::panicking() {
            // The directory goes with the teardown: show the daemon's side of the failure.
            let log = self.daemon_log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!("--- containerd log (last lines) ---\n{}", tail.join("\n"));
        }
        let left = self.teardown();
        if !left.is_empty() {
            eprintln!("containerd test left behind:\n  {}", left.join("\n  "));
        }
    }
}

/// One ctr invocation being set up.
pub struct CtrCall {
    args: Vec<String>,
    io: PathBuf,
    stdin: Option<Vec<u8>>,
    tty: bool,
    timeout: Duration,
}

impl CtrCall {
    /// Runs ctr under `script -qefc CMD /dev/null`, which gives it a terminal (for `-t`).
    pub fn tty(mut self) -> CtrCall {
        self.tty = true;
        self
    }

    pub fn stdin(mut self, data: &[u8]) -> CtrCall {
        self.stdin = Some(data.to_vec());
        self
    }

    pub fn timeout(mut self, t: Duration) -> CtrCall {
        self.timeout = t;
        self
    }

    pub fn output(self) -> Output {
        let t = self.timeout;
        self.spawn().wait(t)
    }

    /// Starts ctr and returns at once; its stdout and stderr go to files.
    pub fn spawn(self) -> Running {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let (out, err) = (
            self.io.join(format!("ctr{n}.out")),
            self.io.join(format!("ctr{n}.err")),
        );
        let args = if self.tty {
            vec![
                "script".to_string(),
                "-qefc".into(),
                shell_line(&self.args),
                "/dev/null".into(),
            ]
        } else {
            self.args
        };
        let mut cmd = Command::new(&args[0]);
        cmd.args(&args[1..])
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", args[0]));
        if let Some(data) = self.stdin {
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = stdin.write_all(&data);
            });
        }
        Running {
            child: Some(child),
            args,
            stdout: out,
            stderr: err,
        }
    }
}
