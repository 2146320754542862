//! podman 4.3 with the runtime under test, in a sandbox of its own.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{getrlimit, Resource};

use super::{build_image, in_terminal, need_package, run, Sandbox, ENGINE_TIMEOUT, IMAGE};
use crate::output::Output;

pub const PODMAN: &str = "/usr/bin/podman";

/// The name the runtime under test is registered under in containers.conf ([engine.runtimes]
/// and runtime_supports_json), used when podman runs without `--runtime PATH`.
pub const RUNTIME_NAME: &str = "cella-under-test";

/// A private podman; see the module documentation of `engines_pd`.
pub struct Podman {
    runtime: PathBuf,
    stopped: bool,
    // Dropped last: the sandbox kills whatever `Drop` below could not stop.
    sb: Sandbox,
}

impl Podman {
    /// Writes containers.conf and storage.conf, builds the busybox image and loads it.
    pub fn start(runtime: &Path) -> Podman {
        need_package(PODMAN, "podman");
        need_package("/usr/bin/conmon", "conmon");
        need_package("/usr/bin/slirp4netns", "slirp4netns");
        need_package("/usr/bin/script", "bsdutils");
        let sb = Sandbox::new("pd", false);
        let p = Podman {
            runtime: runtime.to_path_buf(),
            stopped: false,
            sb,
        };
        p.write_configs();
        let image = build_image(p.sb.dir());
        p.podman(&[OsStr::new("load"), "-i".as_ref(), image.as_os_str()])
            .ok();
        p
    }

    fn write_configs(&self) {
        let d = self.sb.dir();
        for sub in ["root", "runroot", "tmp", "net"] {
            fs::create_dir_all(d.join(sub)).unwrap();
        }
        // By default podman asks containers for 1048576 open files and for the caller's
        // hard process limit, while it lowers its own RLIMIT_NPROC to 32768 (pid_max here):
        // root cannot raise a hard limit here, so the runtime's setrlimit would fail. The
        // defaults are the limits podman itself runs with.
        let nofile = hard_limit(Resource::RLIMIT_NOFILE);
        let pid_max: u64 = fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(32768);
        let nproc = hard_limit(Resource::RLIMIT_NPROC).min(pid_max);
        // netns = "none": a container without an explicit --network never reaches podman's
        // CNI bridge, which would rewrite the host's iptables. lock_type = "file": the
        // default shm locks would live in the host's /dev/shm. static_dir is left alone: set,
        // every run waits 20 s.
        let conf = format!(
            r#"[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]
netns = "none"

[network]
network_config_dir = "{d}/net"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/tmp/events.log"
tmp_dir = "{d}/tmp"
volume_path = "{d}/root/volumes"
lock_type = "file"
runtime = "{RUNTIME_NAME}"
# Runtimes named here get `--log-format=json --log FILE`, and podman reports the last error
# of that log instead of the raw stderr (the defaults plus ours).
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "{RUNTIME_NAME}"]

[engine.runtimes]
{RUNTIME_NAME} = ["{rt}"]
"#,
            d = d.display(),
            rt = self.runtime.display()
        );
        fs::write(d.join("containers.conf"), conf).unwrap();
        let storage = format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{d}/root\"\nrunroot = \"{d}/runroot\"\n",
            d = d.display()
        );
        fs::write(d.join("storage.conf"), storage).unwrap();
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sb
    }

    /// The cgroup parent every container of this podman is created under.
    pub fn cgroup_parent(&self) -> String {
        self.sb.cgroup_parent()
    }

    /// The global flags before every subcommand; `explicit_runtime` adds `--runtime PATH`
    /// (otherwise containers.conf's default runtime, the same binary by name, is used).
    fn global_args(&self, explicit_runtime: bool) -> Vec<OsString> {
        let d = self.sb.dir();
        let mut args: Vec<OsString> = vec![
            "--root".into(),
            d.join("root").into(),
            "--runroot".into(),
            d.join("runroot").into(),
            "--tmpdir".into(),
            d.join("tmp").into(),
            "--cgroup-manager".into(),
            "cgroupfs".into(),
        ];
        if explicit_runtime {
            args.push("--runtime".into());
            args.push(self.runtime.clone().into());
        }
        args
    }

    fn env(&self, cmd: &mut Command) {
        let d = self.sb.dir();
        cmd.env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", d.join("storage.conf"));
    }

    /// `podman --runtime RUNTIME ARGS` in the sandbox.
    pub fn podman<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.podman_with(true, args, None)
    }

    /// Like [`Podman::podman`], with or without `--runtime` and with data on stdin.
    pub fn podman_with<S: AsRef<OsStr>>(
        &self,
        explicit_runtime: bool,
        args: &[S],
        stdin: Option<&[u8]>,
    ) -> Output {
        let mut cmd = self.sb.command(PODMAN);
        cmd.args(self.global_args(explicit_runtime)).args(args);
        self.env(&mut cmd);
        run(cmd, &self.sb.dir().join("io"), stdin, ENGINE_TIMEOUT)
    }

    /// `podman ARGS` with a terminal (`script -qefc`), for `-it`; `stdin` is typed into it.
    pub fn podman_tty<S: AsRef<OsStr>>(&self, args: &[S], stdin: &[u8]) -> Output {
        let mut all = self.global_args(true);
        all.extend(args.iter().map(|a| a.as_ref().to_owned()));
        let nsenter = self.sb.command(PODMAN);
        let mut line: Vec<OsString> = nsenter.get_args().map(OsStr::to_owned).collect();
        line.extend(all);
        let mut cmd = in_terminal(Path::new("nsenter"), &line);
        for (k, v) in nsenter.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        self.env(&mut cmd);
        run(cmd, &self.sb.dir().join("io"), Some(stdin), ENGINE_TIMEOUT)
    }

    /// `run --cgroup-parent P` followed by `extra` (options, the image, the command).
    pub fn run_args(&self, extra: &[&str]) -> Vec<String> {
        let mut args = vec!["run".into(), "--cgroup-parent".into(), self.cgroup_parent()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// The runtime under test, called inside the sandbox with its default `--root` (podman
    /// passes none), e.g. `state ID`.
    pub fn runtime_call(&self, args: &[&str]) -> Output {
        let mut cmd = self.sb.command(&self.runtime);
        cmd.args(args);
        run(
            cmd,
            &self.sb.dir().join("io"),
            None,
            Duration::from_secs(30),
        )
    }

    /// The image reference podman knows the loaded image by.
    pub fn image(&self) -> String {
        format!("localhost/{IMAGE}")
    }

    /// Removes every container, tears the sandbox down and returns what could not be
    /// cleaned (empty when all went).
    pub fn stop(mut self) -> Vec<String> {
        self.remove_all();
        self.stopped = true;
        self.sb.teardown()
    }

    /// `podman rm --all --force`, quietly: it runs from `Drop` too, where a failure must not
    /// hide the test's own.
    fn remove_all(&mut self) {
        let mut cmd = self.sb.command(PODMAN);
        cmd.args(self.global_args(true))
            .args(["rm", "--all", "--force", "--time", "0"]);
        self.env(&mut cmd);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let Ok(mut child) = cmd.spawn() else {
            return;
        };
        let start = Instant::now();
        while child.try_wait().ok().flatten().is_none() {
            if start.elapsed() > ENGINE_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if !self.stopped {
            self.remove_all();
        }
        // The sandbox's own Drop follows: it kills what is left and removes the rest.
    }
}

/// The hard limit of `res` for this process.
fn hard_limit(res: Resource) -> u64 {
    getrlimit(res).map_or(1024, |(_, hard)| hard)
}
