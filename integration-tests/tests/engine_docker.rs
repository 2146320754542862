//! dockerd 20.10 runs its containers through the runtime under test, registered in
//! daemon.json's `runtimes` and picked with `docker run --runtime`.
//!
//! Each test starts a private dockerd (see `integration_tests::engines_pd`) in network and
//! mount namespaces of its own, with no bridge and no iptables, checks that the host's
//! forwarding setting and interfaces did not change and that nothing is left afterwards, and
//! fails, naming the Debian package, when docker.io is missing. Run against runc too:
//! `CELLA_RUNTIME=/usr/sbin/runc cargo test -p integration-tests --test engine_docker`.

use std::fs;

use integration_tests::engines_pd::{
    cgroups_naming, engine_leftovers, host_defaults_present, Docker, IMAGE,
};
use integration_tests::{requires, Req, Runtime};

/// The host's network settings dockerd must not touch.
fn host_net() -> (String, Vec<String>) {
    let forward = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    let mut links: Vec<String> = fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    links.sort();
    (forward, links)
}

struct Started {
    docker: Docker,
    before: Vec<&'static str>,
    net: (String, Vec<String>),
}

/// Starts a dockerd for the runtime under test; `None` (skip) when not root.
fn docker() -> Option<Started> {
    if !requires(&[Req::Root]) {
        return None;
    }
    let before = host_defaults_present();
    let net = host_net();
    Some(Started {
        docker: Docker::start(Runtime::new().bin()),
        before,
        net,
    })
}

/// Stops dockerd and asserts that nothing it made is left and the host network is as it was.
#[track_caller]
fn finish(s: Started) {
    let name = s.docker.sandbox().name().to_string();
    let daemon = s.docker.daemon_pid();
    let problems = s.docker.stop();
    assert!(problems.is_empty(), "teardown problems: {problems:?}");
    assert!(
        !std::path::Path::new(&format!("/proc/{daemon}")).exists()
            || fs::read_to_string(format!("/proc/{daemon}/stat")).is_ok_and(|s| s.contains(") Z")),
        "dockerd {daemon} still runs"
    );
    let left = engine_leftovers(&name, &s.before);
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert_eq!(
        host_net(),
        s.net,
        "the host's ip_forward or interfaces changed"
    );
}

#[test]
fn docker_run_and_run_t_through_the_registered_runtime() {
    let Some(s) = docker() else { return };
    let d = &s.docker;
    let out = d.docker(&d.run_args(&["--rm", IMAGE, "sh", "-c", "echo hello; exit 3"]));
    assert_eq!(out.code(), Some(3), "{out:?}");
    assert_eq!(out.stdout, "hello\n", "{out:?}");
    let out = d.docker(&d.run_args(&["--rm", IMAGE, "true"]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    // Docker turns the runtime's error text into 127 (not found) and 126 (not executable).
    let out = d.docker(&d.run_args(&["--rm", IMAGE, "/no/such/binary"]));
    assert_eq!(out.code(), Some(127), "{out:?}");
    let out = d.docker(&d.run_args(&["--rm", IMAGE, "/etc/passwd"]));
    assert_eq!(out.code(), Some(126), "{out:?}");

    let script = "tty; read line; echo got:$line; exit 4";
    let out = d.docker_tty(
        &d.run_args(&["--rm", "-it", IMAGE, "sh", "-c", script]),
        b"typed\n",
    );
    assert_eq!(out.code(), Some(4), "{out:?}");
    let text = out.stdout.replace('\r', "");
    assert!(
        text.contains("/dev/pts/0\n"),
        "no terminal in the container: {out:?}"
    );
    assert!(
        text.contains("got:typed\n"),
        "stdin did not reach the container: {out:?}"
    );
    let out = d.docker_tty(&d.run_args(&["--rm", "-t", IMAGE, "tty"]), b"");
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(out.stdout.contains("/dev/pts/0"), "{out:?}");
    finish(s);
}

#[test]
fn docker_detached_exec_stop_and_rm() {
    let Some(s) = docker() else { return };
    let d = &s.docker;
    let name = format!("{}-c", d.sandbox().name());
    // sh as PID 1 ignores SIGTERM unless it traps it: the trap proves stop delivered it.
    let body = "trap 'exit 7' TERM; while :; do sleep 0.1; done";
    let out = d.docker(&d.run_args(&["-d", "--name", &name, IMAGE, "sh", "-c", body]));
    out.ok();
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "docker run -d prints the full id: {out:?}");
    let runtime = d.docker(&["inspect", "--format", "{{.HostConfig.Runtime}}", &name]);
    assert_eq!(runtime.stdout.trim(), "cella-under-test", "{runtime:?}");

    // The runtime under test holds the container: its own state says running, same pid.
    let pid = d.docker(&["inspect", "--format", "{{.State.Pid}}", &name]);
    let state = d.runtime_call(&id, &["state", &id]);
    state.ok();
    let state: serde_json::Value = serde_json::from_str(&state.stdout).expect("state JSON");
    assert_eq!(state["status"], "running");
    assert_eq!(state["pid"].to_string(), pid.stdout.trim(), "{state}");

    let out = d.docker(&["exec", &name, "sh", "-c", "echo in-exec; exit 5"]);
    assert_eq!(out.code(), Some(5), "{out:?}");
    assert_eq!(out.stdout, "in-exec\n");
    let out = d.docker_tty(&["exec", "-t", &name, "sh", "-c", "tty; exit 6"], b"");
    assert_eq!(out.code(), Some(6), "{out:?}");
    assert!(
        out.stdout.contains("/dev/pts/"),
        "exec -t has no terminal: {out:?}"
    );
    d.docker(&["top", &name]).ok();
    d.docker(&["pause", &name]).ok();
    let paused = d.docker(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(paused.stdout.trim(), "paused", "{paused:?}");
    d.docker(&["unpause", &name]).ok();

    // A second container, without --runtime: daemon.json's default-runtime is the runtime
    // under test too. Killed through the runtime's `kill`: 128 + SIGKILL.
    let victim = format!("{name}-kill");
    let out = d.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &victim,
        IMAGE,
        "sleep",
        "1000",
    ]);
    out.ok();
    let victim_id = out.stdout.trim().to_string();
    let state = d.runtime_call(&victim_id, &["state", &victim_id]);
    assert!(state.stdout.contains("\"running\""), "{state:?}");
    d.docker(&["kill", &victim]).ok();
    let code = d.docker(&["wait", &victim]);
    assert_eq!(code.stdout.trim(), "137", "{code:?}");

    d.docker(&["stop", "--time", "20", &name]).ok();
    let code = d.docker(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
    assert_eq!(
        code.stdout.trim(),
        "7",
        "SIGTERM did not reach the trap: {code:?}"
    );
    d.docker(&["rm", &name, &victim]).ok();
    let gone = d.docker(&["ps", "--all", "--quiet"]);
    assert_eq!(gone.stdout.trim(), "", "{gone:?}");
    let cgroup_left = cgroups_naming(&d.sandbox().cgroup_parent(), &id);
    assert!(
        cgroup_left.is_empty(),
        "container cgroups left: {cgroup_left:?}"
    );
    finish(s);
}
