//! The runtime binary under test and how tests call it.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::output::{Output, Running};
use crate::RUNTIME_TIMEOUT;

/// A container id no other test (of this or another test process) uses:
/// `cella-test-<pid>-<counter>`. Runtimes name default cgroups after the id, so this keeps
/// cgroup paths apart too.
pub fn unique_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "cella-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The runtime binary plus a private `--root` state directory, so tests never see each
/// other's containers. Cheap to clone; the directories go when the last clone is dropped.
#[derive(Clone)]
pub struct Runtime {
    bin: PathBuf,
    scratch: Arc<TempDir>,
}

/// Where the runtime under test lives: `$CELLA_RUNTIME`, else the workspace's debug cella.
pub fn runtime_path() -> PathBuf {
    workspace_binary("CELLA_RUNTIME", "cella")
}

/// `$var` if set, else the workspace's debug build of `name` (honouring CARGO_TARGET_DIR).
pub(crate) fn workspace_binary(var: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) if Path::new(&t).is_absolute() => PathBuf::from(t),
        Some(t) => workspace.join(t),
        None => workspace.join("target"),
    };
    target.join("debug").join(name)
}

impl Runtime {
    /// The runtime under test with a fresh state directory. Panics (not skips) when the binary
    /// is missing: a suite that silently tests nothing is worse than a red one.
    pub fn new() -> Runtime {
        Runtime::with_bin(runtime_path())
    }

    pub fn with_bin(bin: PathBuf) -> Runtime {
        assert!(
            bin.is_file(),
            "runtime under test {} not found: run `cargo build --bin cella` or set CELLA_RUNTIME",
            bin.display()
        );
        let scratch = tempfile::Builder::new()
            .prefix("cella-test-rt-")
            .tempdir()
            .unwrap();
        fs::create_dir(scratch.path().join("state")).unwrap();
        fs::create_dir(scratch.path().join("io")).unwrap();
        Runtime {
            bin,
            scratch: Arc::new(scratch),
        }
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The `--root` directory passed before every subcommand.
    pub fn root(&self) -> PathBuf {
        self.scratch.path().join("state")
    }

    /// A scratch directory that lives as long as this runtime (for logs, pid files...).
    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// Whether the binary under test is cella (its `--version` starts with "cella"); tests gate
    /// the few assertions where cella deliberately differs from runc on it.
    pub fn is_cella(&self) -> bool {
        static IS_CELLA: OnceLock<bool> = OnceLock::new();
        *IS_CELLA.get_or_init(|| {
            let out = Command::new(&self.bin).arg("--version").output();
            let version = out.map(|o| String::from_utf8_lossy(&o.stdout).to_lowercase());
            version.is_ok_and(|v| v.starts_with("cella"))
                || self
                    .bin
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("cella"))
        })
    }

    /// Whether the runtime has the subcommand `name` (`<bin> NAME --help` succeeds), for
    /// tests of commands a runtime may not have yet.
    pub fn supports(&self, name: &str) -> bool {
        let out = Command::new(&self.bin)
            .args([name, "--help"])
            .stdin(Stdio::null())
            .output();
        out.is_ok_and(|o| o.status.success())
    }

    /// A call of the runtime with `--root R` first, then `args` (which may start with more
    /// global flags such as `--log`), as containerd calls runc.
    pub fn call<S: AsRef<OsStr>>(&self, args: &[S]) -> Call {
        let mut all: Vec<OsString> = vec!["--root".into(), self.root().into()];
        all.extend(args.iter().map(|a| a.as_ref().to_owned()));
        Call {
            rt: self.clone(),
            args: all,
            stdin: None,
            fds: Vec::new(),
            env: Vec::new(),
            cwd: None,
            timeout: RUNTIME_TIMEOUT,
            listen_pid: false,
        }
    }

    /// A call without the `--root` flag (as containerd calls `features`).
    pub fn call_bare<S: AsRef<OsStr>>(&self, args: &[S]) -> Call {
        let mut call = self.call(args);
        call.args.drain(..2);
        call
    }

    /// Runs the runtime to completion with `--root` first; stdin is /dev/null.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.call(args).output()
    }

    pub fn create(&self, id: &str, bundle: &Path) -> Output {
        self.run(&[
            OsStr::new("create"),
            "--bundle".as_ref(),
            bundle.as_os_str(),
            id.as_ref(),
        ])
    }

    pub fn start(&self, id: &str) -> Output {
        self.run(&["start", id])
    }

    /// `state ID` parsed; panics when the call fails or prints something else than JSON.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]);
        out.ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{out:?}"))
    }

    /// The "status" field of `state ID`.
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .expect("status is a string")
            .to_string()
    }

    /// Polls `state ID` until its status is `want`; a container that does not exist yet (a
    /// `run` still starting) is waited for too.
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) {
        let mut last = String::new();
        let start = std::time::Instant::now();
        while start.elapsed() < timeout {
            let out = self.run(&["state", id]);
            let state: Option<Value> = serde_json::from_str(&out.stdout).ok();
            match state.as_ref().and_then(|s| s["status"].as_str()) {
                Some(s) if s == want => return,
                Some(s) => last = s.to_string(),
                None => last = format!("{out:?}"),
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("container {id} still {last} after {timeout:?}, expected {want:?}");
    }

    pub fn kill(&self, id: &str, signal: &str) -> Output {
        self.run(&["kill", id, signal])
    }

    pub fn delete(&self, id: &str) -> Output {
        self.run(&["delete", id])
    }

    pub fn delete_force(&self, id: &str) -> Output {
        self.run(&["delete", "--force", id])
    }

    pub fn list(&self, args: &[&str]) -> Output {
        let mut all = vec!["list"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// `spec` run in `dir` (runc writes config.json to the current directory).
    pub fn spec(&self, dir: &Path, args: &[&str]) -> Output {
        let mut all = vec!["spec"];
        all.extend_from_slice(args);
        self.call(&all).cwd(dir).output()
    }

    /// `features` without global flags, as containerd calls it.
    pub fn features(&self) -> Output {
        self.call_bare(&["features"]).output()
    }

    /// A fresh pair of files for the stdout/stderr of one call.
    fn io_files(&self) -> (PathBuf, PathBuf) {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = self.scratch.path().join("io");
        (dir.join(format!("{n}.out")), dir.join(format!("{n}.err")))
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

/// One invocation being set up: extra stdin, inherited fds, environment, cwd, time limit.
pub struct Call {
    rt: Runtime,
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    fds: Vec<(i32, OwnedFd)>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    timeout: Duration,
    listen_pid: bool,
}

impl Call {
    /// Sets LISTEN_PID to the runtime's own pid, as systemd's socket activation does (the
    /// runtime is started through `/bin/sh -c 'LISTEN_PID=$$ exec ...'` for that).
    pub fn listen_pid(mut self) -> Call {
        self.listen_pid = true;
        self
    }

    /// Feeds `data` to the runtime's stdin (then closes it); default is /dev/null.
    pub fn stdin(mut self, data: &[u8]) -> Call {
        self.stdin = Some(data.to_vec());
        self
    }

    /// Makes `fd` open in the runtime as descriptor number `target` (e.g. 3 for
    /// `--preserve-fds 1`).
    pub fn fd(mut self, target: i32, fd: OwnedFd) -> Call {
        self.fds.push((target, fd));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Call {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Call {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    pub fn timeout(mut self, t: Duration) -> Call {
        self.timeout = t;
        self
    }

    /// Runs to completion (killed and failing the test after the time limit).
    pub fn output(self) -> Output {
        let timeout = self.timeout;
        self.spawn().wait(timeout)
    }

    /// Starts the runtime and returns at once.
    pub fn spawn(self) -> Running {
        let (out_path, err_path) = self.rt.io_files();
        let out = File::create(&out_path).unwrap();
        let err = File::create(&err_path).unwrap();
        let mut cmd = if self.listen_pid {
            let mut sh = Command::new("/bin/sh");
            sh.args(["-c", "LISTEN_PID=$$ exec \"$@\"", "sh"])
                .arg(&self.rt.bin);
            sh
        } else {
            Command::new(&self.rt.bin)
        };
        cmd.args(&self.args).stdout(out).stderr(err);
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        let fds: Vec<(i32, i32)> = self
            .fds
            .iter()
            .map(|(t, fd)| (*t, fd.as_raw_fd()))
            .collect();
        if !fds.is_empty() {
            // SAFETY: the closure runs between fork and exec and only calls dup2/fcntl, which
            // are async-signal-safe; it allocates nothing.
            unsafe {
                cmd.pre_exec(move || {
                    for &(target, src) in &fds {
                        if target == src {
                            // dup2 onto itself keeps CLOEXEC; clear it so exec keeps the fd.
                            if libc::fcntl(src, libc::F_SETFD, 0) < 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                        } else if libc::dup2(src, target) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.rt.bin.display()));
        drop(self.fds);
        if let Some(data) = self.stdin {
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
        }
        let mut args = vec![self.rt.bin.display().to_string()];
        args.extend(self.args.iter().map(|a| a.to_string_lossy().into_owned()));
        Running {
            child: Some(child),
            args,
            stdout: out_path,
            stderr: err_path,
        }
    }
}
