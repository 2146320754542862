//! podman 4.3 runs its containers through the runtime under test (`podman --runtime PATH`).
//!
//! Each test starts a private podman (see `integration_tests::engines_pd`), checks that it
//! cleaned up after itself, and fails, naming the Debian package, when podman is missing.
//! Run against runc too: `CELLA_RUNTIME=/usr/sbin/runc cargo test -p integration-tests --test
//! engine_podman`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use integration_tests::engines_pd::{
    cgroups_naming, engine_leftovers, host_defaults_present, Podman,
};
use integration_tests::{requires, Req, Runtime};

/// Starts a podman for the runtime under test; `None` (skip) when not root.
fn podman() -> Option<(Podman, Vec<&'static str>)> {
    if !requires(&[Req::Root]) {
        return None;
    }
    let before = host_defaults_present();
    Some((Podman::start(Runtime::new().bin()), before))
}

/// Stops `p` and asserts that nothing it made is left on the host.
#[track_caller]
fn finish(p: Podman, before: &[&str]) {
    let name = p.sandbox().name().to_string();
    let problems = p.stop();
    assert!(problems.is_empty(), "teardown problems: {problems:?}");
    let left = engine_leftovers(&name, before);
    assert!(left.is_empty(), "left behind: {left:#?}");
}

#[test]
fn podman_run_passes_output_and_exit_statuses() {
    let Some((p, before)) = podman() else { return };
    let img = p.image();
    let out = p.podman(&p.run_args(&["--rm", &img, "sh", "-c", "echo hello; exit 3"]));
    assert_eq!(out.code(), Some(3), "{out:?}");
    assert_eq!(out.stdout, "hello\n", "{out:?}");
    let out = p.podman(&p.run_args(&["--rm", &img, "true"]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    // podman turns the runtime's error text into 127 (not found) and 126 (not executable).
    let out = p.podman(&p.run_args(&["--rm", &img, "/no/such/binary"]));
    assert_eq!(out.code(), Some(127), "{out:?}");
    let out = p.podman(&p.run_args(&["--rm", &img, "nosuchcommand"]));
    assert_eq!(out.code(), Some(127), "{out:?}");
    let out = p.podman(&p.run_args(&["--rm", &img, "/etc/passwd"]));
    assert_eq!(out.code(), Some(126), "{out:?}");
    // The runtime registered by name in containers.conf ([engine] runtime, [engine.runtimes]).
    let by_name = p.podman_with(
        false,
        &p.run_args(&["--rm", &img, "sh", "-c", "echo by-name; exit 5"]),
        None,
    );
    assert_eq!(by_name.code(), Some(5), "{by_name:?}");
    assert_eq!(by_name.stdout, "by-name\n");
    // Registered in runtime_supports_json: podman reads the error from the runtime's JSON log
    // (`--log-format=json --log FILE`), not a logfmt line from its stderr.
    let by_name = p.podman_with(false, &p.run_args(&["--rm", &img, "/no/such/binary"]), None);
    assert_eq!(by_name.code(), Some(127), "{by_name:?}");
    assert!(
        by_name.stderr.contains("/no/such/binary") && !by_name.stderr.contains("level=error"),
        "the error did not come from the JSON log: {by_name:?}"
    );
    finish(p, &before);
}

#[test]
fn podman_run_it_gives_the_container_a_terminal() {
    let Some((p, before)) = podman() else { return };
    let img = p.image();
    let script = "tty; read line; echo got:$line; exit 4";
    let out = p.podman_tty(
        &p.run_args(&["--rm", "-it", &img, "sh", "-c", script]),
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
    finish(p, &before);
}

#[test]
fn podman_detached_exec_stop_and_rm() {
    let Some((p, before)) = podman() else { return };
    let img = p.image();
    let name = format!("{}-c", p.sandbox().name());
    // sh as PID 1 ignores SIGTERM unless it traps it: the trap proves stop delivered it.
    let body = "trap 'exit 7' TERM; while :; do sleep 0.1; done";
    let out = p.podman(&p.run_args(&["-d", "--name", &name, &img, "sh", "-c", body]));
    out.ok();
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "podman run -d prints the full id: {out:?}");

    // The runtime under test holds the container: its own state says running, same pid.
    let pid = p.podman(&["inspect", "--format", "{{.State.Pid}}", &name]);
    let state = p.runtime_call(&["state", &id]);
    state.ok();
    let state: serde_json::Value = serde_json::from_str(&state.stdout).expect("state JSON");
    assert_eq!(state["status"], "running");
    assert_eq!(state["pid"].to_string(), pid.stdout.trim(), "{state}");

    let out = p.podman(&["exec", &name, "sh", "-c", "echo in-exec; exit 5"]);
    assert_eq!(out.code(), Some(5), "{out:?}");
    assert_eq!(out.stdout, "in-exec\n");
    let out = p.podman_tty(&["exec", "-it", &name, "sh", "-c", "tty; exit 6"], b"");
    assert_eq!(out.code(), Some(6), "{out:?}");
    assert!(
        out.stdout.contains("/dev/pts/"),
        "exec -it has no terminal: {out:?}"
    );
    let out = p.podman(&["top", &name]);
    out.ok();

    // A second container, killed through the runtime's `kill`: 128 + SIGKILL.
    let victim = format!("{name}-kill");
    let out = p.podman(&p.run_args(&["-d", "--name", &victim, &img, "sleep", "1000"]));
    out.ok();
    p.podman(&["kill", &victim]).ok();
    p.podman(&["wait", &victim]).ok();
    let code = p.podman(&["inspect", "--format", "{{.State.ExitCode}}", &victim]);
    assert_eq!(code.stdout.trim(), "137", "{code:?}");

    let out = p.podman(&["stop", "--time", "20", &name]);
    out.ok();
    let code = p.podman(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
    assert_eq!(
        code.stdout.trim(),
        "7",
        "SIGTERM did not reach the trap: {code:?}"
    );
    p.podman(&["rm", &name]).ok();
    let gone = p.podman(&["container", "exists", &name]);
    assert_eq!(gone.code(), Some(1), "{gone:?}");
    p.runtime_call(&["state", &id]).failed();
    let cgroup_left = cgroups_naming(&p.cgroup_parent(), &id);
    assert!(
        cgroup_left.is_empty(),
        "container cgroups left: {cgroup_left:?}"
    );
    finish(p, &before);
}

#[test]
fn podman_slirp4netns_reaches_a_server_on_the_host_loopback() {
    let Some((p, before)) = podman() else { return };
    let img = p.image();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let serve = std::thread::spawn(move || {
        let (mut conn, _) = server.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut line = String::new();
        BufReader::new(&conn).read_line(&mut line).unwrap();
        conn.write_all(format!("pong {line}").as_bytes()).unwrap();
        line
    });
    // 10.0.2.2 is slirp's gateway, which forwards to the host's loopback when allowed.
    let cmd = format!("echo ping | nc 10.0.2.2 {port}");
    let out = p.podman(&p.run_args(&[
        "--rm",
        "--network",
        "slirp4netns:allow_host_loopback=true",
        &img,
        "sh",
        "-c",
        &cmd,
    ]));
    out.ok();
    assert_eq!(out.stdout, "pong ping\n", "{out:?}");
    assert_eq!(serve.join().unwrap(), "ping\n");
    finish(p, &before);
}
