//! OCI hooks: when each runs, what it gets on stdin, its args and env, timeouts, failures.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use integration_tests::procfs::ns_link;
use integration_tests::{setup, wait_for, Bundle, HookRecorder};
use serde_json::{json, Value};

const HOST_HOOKS: [&str; 5] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "poststart",
    "poststop",
];

/// A bundle whose config runs every hook: the host ones from `rec` and startContainer from
/// a recorder inside the rootfs (its path exists only there). Returns the inside recorder.
fn hooked(b: &mut Bundle, rec: &HookRecorder, then: &[(&str, &str)]) -> HookRecorder {
    let inside = HookRecorder::with_shell(&b.rootfs().join("hooks"), "/bin/sh");
    let then_of = |name: &str| {
        then.iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, t)| *t)
    };
    inside.script(
        "startContainer",
        Path::new("/hooks"),
        then_of("startContainer"),
    );
    let mut hooks = json!({});
    for name in HOST_HOOKS {
        hooks[name] = json!([rec.hook(name, then_of(name))]);
    }
    hooks["startContainer"] = json!([{
        "path": "/hooks/startContainer.sh",
        "args": ["/hooks/startContainer.sh", "startContainer", "second-arg"],
        "env": ["HOOK_NAME=startContainer"]
    }]);
    b.edit(|c| c["hooks"] = hooks);
    inside
}

#[track_caller]
fn check_call(rec: &HookRecorder, name: &str, b: &Bundle, status: &str) -> Value {
    let st = rec.state(name);
    assert_eq!(st["id"], b.id(), "{name}: {st}");
    assert_eq!(st["status"], status, "{name}: {st}");
    assert_eq!(st["bundle"], b.path().to_str().unwrap(), "{name}: {st}");
    assert!(
        st["pid"].as_i64().unwrap_or(0) > 0 || status == "stopped",
        "{name}: {st}"
    );
    assert_eq!(rec.args(name), [name, "second-arg"], "{name} args");
    let env = rec.env(name);
    assert!(
        env.contains(&format!("HOOK_NAME={name}")),
        "{name} env: {env:?}"
    );
    assert!(
        !env.iter().any(|e| e.starts_with("CELLA_TEST_LEAK=")),
        "{name} got the runtime's env"
    );
    st
}

#[test]
fn every_hook_runs_at_its_moment_with_the_state_on_stdin() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["sleep", "100"]);
    let rec = HookRecorder::new(&b.path().join("hooks"));
    let inside = hooked(&mut b, &rec, &[]);
    assert!(!Path::new("/hooks/startContainer.sh").exists());

    b.call("create", &[])
        .env("CELLA_TEST_LEAK", "1")
        .output()
        .ok();
    let pid = b.pid();
    // The pid is as seen from where the hook runs: the host for hooks in the runtime
    // namespace, the container's pid namespace (so 1) for createContainer/startContainer.
    for name in ["prestart", "createRuntime"] {
        let st = check_call(&rec, name, &b, "creating");
        assert_eq!(st["pid"], pid, "{name}");
    }
    let st = check_call(&rec, "createContainer", &b, "creating");
    assert_eq!(st["pid"], 1, "createContainer");
    let order = rec.order();
    let pos = |n: &str| order.iter().position(|o| o == n).unwrap();
    assert!(pos("createRuntime") < pos("createContainer"), "{order:?}");
    assert!(pos("prestart") < pos("createContainer"), "{order:?}");
    // runc 1.1.5 runs startContainer and poststart during create (RUNC-DIFFERENCES.md).
    if rt.is_cella() {
        assert!(
            !inside.ran("startContainer"),
            "startContainer ran before start"
        );
        assert!(!rec.ran("poststart"), "poststart ran before start");
    }
    assert!(!rec.ran("poststop"), "{:?}", rec.order());

    b.rt()
        .call(&["start", b.id()])
        .env("CELLA_TEST_LEAK", "1")
        .output()
        .ok();
    // startContainer ran inside the container, before the user program.
    let st = check_call(&inside, "startContainer", &b, "created");
    assert_eq!(st["pid"], 1);
    // runc 1.1.5 ran poststart during create, so its state says "created".
    let poststart_status = if rt.is_cella() { "running" } else { "created" };
    let st = check_call(&rec, "poststart", &b, poststart_status);
    assert_eq!(st["pid"], pid);
    assert!(!rec.ran("poststop"));

    b.kill("KILL").ok();
    b.wait_status("stopped");
    b.rt()
        .call(&["delete", b.id()])
        .env("CELLA_TEST_LEAK", "1")
        .output()
        .ok();
    check_call(&rec, "poststop", &b, "stopped");
    b.assert_no_leftovers();
}

#[test]
fn run_calls_the_hooks_too() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["true"]);
    let rec = HookRecorder::new(&b.path().join("hooks"));
    let inside = hooked(&mut b, &rec, &[]);
    b.run().ok();
    for name in HOST_HOOKS {
        assert!(rec.ran(name), "{name} did not run: {:?}", rec.order());
    }
    assert!(inside.ran("startContainer"));
    b.assert_no_leftovers();
}

#[test]
fn a_hook_past_its_timeout_is_killed_and_create_fails() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["sleep", "100"]);
    let rec = HookRecorder::new(&b.path().join("hooks"));
    let pid_file = rec.dir().join("slow.pid");
    let mut hook = rec.hook(
        "createRuntime",
        &format!("echo $$ > {}\nexec sleep 30", pid_file.display()),
    );
    hook["timeout"] = 1.into();
    b.edit(|c| c["hooks"] = json!({"createRuntime": [hook]}));
    let start = Instant::now();
    let out = b.create();
    out.failed();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "create took {:?}",
        start.elapsed()
    );
    let hook_pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for("the slow hook to be killed", Duration::from_secs(5), || {
        let stat = fs::read_to_string(format!("/proc/{hook_pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
        matches!(state, None | Some('Z')).then_some(())
    });
    b.assert_no_leftovers();
}

#[test]
fn a_failing_create_hook_fails_create_and_leaves_nothing() {
    let Some(rt) = setup() else { return };
    for failing in ["prestart", "createRuntime", "createContainer"] {
        let mut b = Bundle::new(&rt, &["sleep", "100"]);
        let rec = HookRecorder::new(&b.path().join("hooks"));
        hooked(&mut b, &rec, &[(failing, "echo hook-says-no >&2; exit 3")]);
        let out = b.create();
        out.failed();
        assert!(!rec.ran("poststart"));
        b.assert_no_leftovers();
        let list = rt.list(&["-q"]);
        assert_eq!(list.stdout.trim(), "", "{failing}: {list:?}");
    }
}

#[test]
fn a_failing_start_container_hook_fails_start() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.script("/probe.sh", "echo user-program-ran > /tmp/ran\nsleep 100");
    let rec = HookRecorder::new(&b.path().join("hooks"));
    hooked(&mut b, &rec, &[("startContainer", "exit 3")]);
    b.create().ok();
    let out = b.start();
    // runc 1.1.5 reports success and lets init fail alone (RUNC-DIFFERENCES.md).
    if rt.is_cella() {
        out.failed();
    }
    b.wait_status("stopped");
    assert!(!b.rootfs().join("tmp/ran").exists(), "the user program ran");
    if rt.is_cella() {
        assert!(!rec.ran("poststart"), "poststart ran after a failed start");
    }
    b.delete_force();
    b.assert_no_leftovers();
}

#[test]
fn a_failing_poststop_hook_only_warns() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["true"]);
    let rec = HookRecorder::new(&b.path().join("hooks"));
    hooked(&mut b, &rec, &[("poststop", "exit 3")]);
    b.create().ok();
    b.start().ok();
    b.wait_status("stopped");
    b.delete().ok();
    assert!(rec.ran("poststop"));
    b.assert_no_leftovers();
}

#[test]
fn runtime_hooks_run_in_the_runtime_namespaces_and_create_container_in_the_containers() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["sleep", "100"]);
    let rec = HookRecorder::new(&b.path().join("hooks"));
    // Each hook writes where it runs: its mount, pid and uts namespaces.
    let probe = |dir: &Path, name: &str| {
        let d = dir.join(name);
        let d = d.display();
        format!(
            "readlink /proc/self/ns/mnt > {d}.mnt\nreadlink /proc/self/ns/pid > {d}.pidns\n\
             readlink /proc/self/ns/uts > {d}.uts"
        )
    };
    let thens: Vec<(String, String)> = HOST_HOOKS
        .iter()
        .map(|n| (n.to_string(), probe(rec.dir(), n)))
        .collect();
    let thens: Vec<(&str, &str)> = thens
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    hooked(&mut b, &rec, &thens);
    let seen = |name: &str, what: &str| {
        let f = rec.dir().join(format!("{name}.{what}"));
        fs::read_to_string(&f)
            .unwrap_or_else(|e| panic!("{name} did not record its {what}: {e}"))
            .trim()
            .to_string()
    };
    let host_mnt = ns_link("self", "mnt");
    let host_pid = ns_link("self", "pid");
    let host_uts = ns_link("self", "uts");

    b.create().ok();
    let init = b.pid().to_string();
    let ctr_mnt = ns_link(&init, "mnt");
    let ctr_pid = ns_link(&init, "pid");
    let ctr_uts = ns_link(&init, "uts");
    assert_ne!(ctr_mnt, host_mnt);
    assert_ne!(ctr_pid, host_pid);
    b.start().ok();
    b.kill("KILL").ok();
    b.wait_status("stopped");
    b.delete().ok();

    // runtime.md: prestart, createRuntime, poststart and poststop run in the runtime
    // namespace; createContainer in the container namespace (its mount namespace is the
    // container's, before pivot_root).
    for name in ["prestart", "createRuntime", "poststart", "poststop"] {
        assert_eq!(seen(name, "mnt"), host_mnt, "{name} mount namespace");
        assert_eq!(seen(name, "pidns"), host_pid, "{name} pid namespace");
        assert_eq!(seen(name, "uts"), host_uts, "{name} uts namespace");
    }
    assert_eq!(
        seen("createContainer", "mnt"),
        ctr_mnt,
        "createContainer mount ns"
    );
    assert_eq!(
        seen("createContainer", "pidns"),
        ctr_pid,
        "createContainer pid ns"
    );
    assert_eq!(
        seen("createContainer", "uts"),
        ctr_uts,
        "createContainer uts ns"
    );
    b.assert_no_leftovers();
}
