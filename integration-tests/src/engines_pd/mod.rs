//! podman and Docker driving the runtime under test, each started privately.
//!
//! [`Podman`] runs podman 4.3 with its own storage, run and temp directories, containers.conf
//! and storage.conf (through CONTAINERS_CONF / CONTAINERS_STORAGE_CONF) and `--runtime` set to
//! the runtime under test. [`Docker`] starts dockerd 20.10 by hand with its own data-root,
//! exec-root, pid file and socket, the runtime registered in daemon.json, no bridge and no
//! iptables, inside a network namespace of its own. Both live in a [`Sandbox`] (private mount
//! namespace, overlays over the host directories engines write to regardless of their flags,
//! cgroup parent named after the sandbox) and leave nothing behind when dropped, even after a
//! failed assertion. Images come from `engines/make-image.sh` (a busybox image built offline).

mod docker;
mod podman;
mod sandbox;

pub use docker::Docker;
pub use podman::Podman;
pub use sandbox::{cgroups_naming, Sandbox};

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::engine_image::{make_image, shell_quote};
use crate::output::{Output, Running};

/// The image both engines load, built by make-image.sh.
pub const IMAGE: &str = "cella-test-busybox:1";

/// How long one engine command may take before it is killed and the test fails.
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(60);

/// Panics unless `binary` exists, naming the Debian package that brings it: these suites fail
/// rather than skip when an engine is missing (scripts/test-all.sh installs them).
#[track_caller]
pub fn need_package(binary: &str, package: &str) {
    assert!(
        Path::new(binary).is_file(),
        "{binary} not found: install the Debian package {package} \
         (apt-get install --no-install-recommends {package}; scripts/test-all.sh does it)"
    );
}

/// Builds the busybox image archive (OCI layout and docker archive at once) as `dir/image.tar`.
pub fn build_image(dir: &Path) -> PathBuf {
    let out = dir.join("image.tar");
    make_image(&out, IMAGE, None);
    out
}

/// Runs `cmd` to completion with stdout/stderr in files under `io_dir` (daemons it starts may
/// keep them open), feeding `stdin` if given; killed and failing after `timeout`.
pub(crate) fn run(
    mut cmd: Command,
    io_dir: &Path,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Output {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    fs::create_dir_all(io_dir).unwrap();
    let out = io_dir.join(format!("{n}.out"));
    let err = io_dir.join(format!("{n}.err"));
    cmd.stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut args = vec![cmd.get_program().to_string_lossy().into_owned()];
    args.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", args.join(" ")));
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    Running {
        child: Some(child),
        args,
        stdout: out,
        stderr: err,
    }
    .wait(timeout)
}

/// `args` as one shell command line for `script -qefc`, which gives the engine's client a
/// terminal (`-t`) when the test has none.
pub(crate) fn in_terminal<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> Command {
    let mut line = shell_quote(&program.to_string_lossy());
    for a in args {
        line.push(' ');
        line.push_str(&shell_quote(&a.as_ref().to_string_lossy()));
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qefc", &line, "/dev/null"]);
    cmd
}

/// Host paths engines create when left to their defaults; they must not appear during a test.
const HOST_DEFAULTS: [&str; 11] = [
    "/var/lib/containers",
    "/run/containers",
    "/run/libpod",
    "/etc/docker/key.json",
    "/var/lib/docker",
    "/run/docker",
    "/run/docker.sock",
    "/sys/fs/cgroup/memory/libpod_parent",
    "/sys/fs/cgroup/memory/docker",
    "/sys/fs/cgroup/libpod_parent",
    "/sys/fs/cgroup/docker",
];

/// Which of [`HOST_DEFAULTS`] exist now (taken before an engine starts).
pub fn host_defaults_present() -> Vec<&'static str> {
    HOST_DEFAULTS
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect()
}

/// What a sandbox named `name` left on the host, one description per item: its directory,
/// mounts naming it, cgroups named after it, processes in those cgroups or naming it on their
/// command line, and engine default paths that appeared since `before` was taken.
pub fn engine_leftovers(name: &str, before: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let dir = std::env::temp_dir().join(name);
    if dir.exists() {
        found.push(format!("directory {}", dir.display()));
    }
    for line in fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| mentions(l, name))
    {
        found.push(format!("mount: {line}"));
    }
    for cg in sandbox::cgroup_dirs(name) {
        found.push(format!("cgroup {}", cg.display()));
    }
    let mut pids = sandbox::processes_of(name, None);
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if mentions(&String::from_utf8_lossy(&cmd), name) && pid != std::process::id() as i32 {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids.dedup();
    for pid in pids {
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        found.push(format!("process {pid}: {cmd}"));
    }
    for p in host_defaults_present() {
        if !before.contains(&p) {
            found.push(format!("host path {p} appeared"));
        }
    }
    found
}

/// Whether `text` names `name` followed by anything but a digit (so cella-test-pd-1-1 is not
/// found in cella-test-pd-1-10).
fn mentions(text: &str, name: &str) -> bool {
    text.match_indices(name)
        .any(|(i, _)| !text[i + name.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn mentions_does_not_take_longer_names() {
        assert!(mentions("/tmp/cella-test-pd-1-1/root", "cella-test-pd-1-1"));
        assert!(mentions("x cella-test-pd-1-1", "cella-test-pd-1-1"));
        assert!(!mentions(
            "/tmp/cella-test-pd-1-10/root",
            "cella-test-pd-1-1"
        ));
        assert!(mentions(
            "cella-test-pd-1-10 cella-test-pd-1-1/",
            "cella-test-pd-1-1"
        ));
    }
}
