//! dockerd 20.10 started by hand with the runtime under test registered in daemon.json.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{build_image, in_terminal, need_package, run, Sandbox, ENGINE_TIMEOUT};
use crate::output::Output;

pub const DOCKERD: &str = "/usr/sbin/dockerd";
/// The docker.io client; another `docker` earlier on PATH may be of another version.
pub const DOCKER: &str = "/usr/bin/docker";

/// The name the runtime under test is registered under in daemon.json (`docker run --runtime`).
pub const RUNTIME_NAME: &str = "cella-under-test";

/// A private dockerd (and the containerd it starts); see the module documentation of
/// `engines_pd`.
pub struct Docker {
    runtime: PathBuf,
    daemon: Option<Child>,
    // Dropped last: the sandbox kills whatever `Drop` below could not stop.
    sb: Sandbox,
}

impl Docker {
    /// Starts dockerd in a sandbox with its own network namespace (so neither its bridge code
    /// nor anything else can reach the host's iptables or ip_forward), waits for its socket and
    /// loads the busybox image.
    pub fn start(runtime: &Path) -> Docker {
        need_package(DOCKERD, "docker.io");
        need_package(DOCKER, "docker.io");
        need_package("/usr/bin/containerd", "containerd");
        need_package("/usr/bin/script", "bsdutils");
        let sb = Sandbox::new("dk", true);
        let mut d = Docker {
            runtime: runtime.to_path_buf(),
            daemon: None,
            sb,
        };
        d.start_daemon();
        let image = build_image(d.sb.dir());
        d.docker(&[OsStr::new("load"), "-i".as_ref(), image.as_os_str()])
            .ok();
        d
    }

    fn start_daemon(&mut self) {
        let d = self.sb.dir().to_path_buf();
        // No bridge, no iptables, no forwarding, no masquerading: containers run with
        // --network none. cgroupfs driver and a cgroup parent named after the sandbox.
        let config = serde_json::json!({
            "runtimes": { RUNTIME_NAME: { "path": self.runtime } },
            "default-runtime": RUNTIME_NAME,
            "bridge": "none",
            "iptables": false,
            "ip6tables": false,
            "ip-forward": false,
            "ip-masq": false,
            "userland-proxy": false,
            "cgroup-parent": self.sb.cgroup_parent(),
            "exec-opts": ["native.cgroupdriver=cgroupfs"],
            "storage-driver": "overlay2",
            "shutdown-timeout": 5,
        });
        fs::write(d.join("daemon.json"), config.to_string()).unwrap();
        let log = File::create(d.join("dockerd.log")).unwrap();
        let mut cmd = self.sb.command(DOCKERD);
        cmd.arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.daemon = Some(cmd.spawn().expect("spawn dockerd"));
        let start = Instant::now();
        loop {
            if self.socket().exists()
                && self
                    .client(&["version"])
                    .status()
                    .is_ok_and(|s| s.success())
            {
                return;
            }
            let exited = self
                .daemon
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || start.elapsed() > Duration::from_secs(60) {
                panic!(
                    "dockerd did not come up ({exited:?}):\n{}",
                    fs::read_to_string(d.join("dockerd.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn socket(&self) -> PathBuf {
        self.sb.dir().join("docker.sock")
    }

    /// The docker client for this daemon; it needs no namespace of the sandbox (the socket is
    /// a path), but its config goes to the sandbox, not ~/.docker.
    fn client<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args)
            .env("DOCKER_CONFIG", self.sb.dir().join("client"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sb
    }

    /// The PID of dockerd itself.
    pub fn daemon_pid(&self) -> i32 {
        self.daemon.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// `docker ARGS` against this daemon.
    pub fn docker<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        run(
            self.client(args),
            &self.sb.dir().join("io"),
            None,
            ENGINE_TIMEOUT,
        )
    }

    /// `docker ARGS` with a terminal (`script -qefc`), for `-t`; `stdin` is typed into it.
    pub fn docker_tty<S: AsRef<OsStr>>(&self, args: &[S], stdin: &[u8]) -> Output {
        let mut all: Vec<OsString> = vec![
            "-H".into(),
            format!("unix://{}", self.socket().display()).into(),
        ];
        all.extend(args.iter().map(|a| a.as_ref().to_owned()));
        let mut cmd = in_terminal(Path::new(DOCKER), &all);
        cmd.env("DOCKER_CONFIG", self.sb.dir().join("client"));
        run(cmd, &self.sb.dir().join("io"), Some(stdin), ENGINE_TIMEOUT)
    }

    /// `run --runtime NAME --network none` followed by `extra` (options, image, command).
    pub fn run_args(&self, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "run".into(),
            "--runtime".into(),
            RUNTIME_NAME.into(),
            "--network".into(),
            "none".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// The runtime under test, called inside the sandbox with the `--root` Docker's shim gives
    /// it (`<exec-root>/runtime-*/moby`, found by the container's full id), e.g. `state ID`.
    pub fn runtime_call(&self, id: &str, args: &[&str]) -> Output {
        let exec = self.sb.dir().join("exec");
        let root = fs::read_dir(&exec)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("moby"))
            .find(|p| p.join(id).exists())
            .unwrap_or_else(|| panic!("no runtime state for {id} under {}", exec.display()));
        let mut cmd = self.sb.command(&self.runtime);
        cmd.arg("--root").arg(root).args(args);
        run(
            cmd,
            &self.sb.dir().join("io"),
            None,
            Duration::from_secs(30),
        )
    }

    /// Removes every container, stops dockerd (it stops its containerd), tears the sandbox
    /// down and returns what could not be cleaned (empty when all went).
    pub fn stop(mut self) -> Vec<String> {
        let mut problems = self.shutdown();
        problems.extend(self.sb.teardown());
        problems
    }

    /// `docker rm -f` of every container, then SIGTERM to dockerd and a wait for it; problems
    /// are returned, not raised (it runs from `Drop` too).
    fn shutdown(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        let Some(mut daemon) = self.daemon.take() else {
            return problems;
        };
        let ids = self.docker(&["ps", "--all", "--quiet", "--no-trunc"]);
        for id in ids.stdout.split_whitespace() {
            let out = self.docker(&["rm", "--force", id]);
            if !out.success() {
                problems.push(format!("docker rm --force {id}: {}", out.stderr.trim()));
            }
        }
        let _ = kill(Pid::from_raw(daemon.id() as i32), Signal::SIGTERM);
        let start = Instant::now();
        while daemon.try_wait().ok().flatten().is_none() {
            if start.elapsed() > Duration::from_secs(20) {
                problems.push("dockerd ignored SIGTERM for 20 s".into());
                let _ = daemon.kill();
                let _ = daemon.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        problems
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        if self.daemon.is_some() {
            // Best effort only while unwinding: a panic here would abort the test process.
            let daemon = self.daemon.take();
            if let Some(mut daemon) = daemon {
                let _ = kill(Pid::from_raw(daemon.id() as i32), Signal::SIGTERM);
                let start = Instant::now();
                while daemon.try_wait().ok().flatten().is_none()
                    && start.elapsed() < Duration::from_secs(20)
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = daemon.kill();
                let _ = daemon.wait();
            }
        }
        // The sandbox's own Drop follows: it kills what is left and removes the rest.
    }
}
