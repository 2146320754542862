//! create / start / state / kill / delete / run / list, from outside and inside.

use std::fs;
use std::time::Duration;

use integration_tests::{setup, wait_for, Bundle, Runtime};
use nix::sys::signal::Signal;
use serde_json::Value;

const SECS: Duration = Duration::from_secs(10);

fn cmdline(pid: i32) -> String {
    String::from_utf8_lossy(&fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .replace('\0', " ")
}

/// A container that says "ready" on stdout, echoes each trapped signal and loops until the
/// host creates /tmp/go in its rootfs.
fn trapping(rt: &Runtime, exit_on_term: Option<i32>) -> Bundle {
    let b = Bundle::new(rt, &["/trap.sh"]);
    let term = match exit_on_term {
        Some(code) => format!("echo got-TERM; exit {code}"),
        None => "echo got-TERM".to_string(),
    };
    b.script(
        "/trap.sh",
        &format!(
            "trap '{term}' TERM\ntrap 'echo got-USR1' USR1\ntrap 'echo got-HUP' HUP\n\
             echo ready\nwhile [ ! -e /tmp/go ]; do sleep 0.05; done\necho bye"
        ),
    );
    b
}

#[test]
fn create_start_exit_delete_walks_through_every_status() {
    let Some(rt) = setup() else { return };
    let b = trapping(&rt, None);
    let created = b.create();
    created.ok();

    let st = b.state();
    assert_eq!(st["status"], "created", "{st}");
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(pid > 0, "{st}");
    assert!(
        fs::metadata(format!("/proc/{pid}")).is_ok(),
        "init process {pid} is not alive"
    );
    let cmd = cmdline(pid);
    assert!(
        !cmd.contains("trap.sh"),
        "user program already exec'ed before start: {cmd}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !created.stdout_now().contains("ready"),
        "user program ran before start"
    );

    b.start().ok();
    assert_eq!(b.status(), "running");
    created.wait_stdout("the container to print ready", SECS, |o| {
        o.contains("ready")
    });
    assert!(
        cmdline(pid).contains("/trap.sh"),
        "pid {pid} is not the user program"
    );
    assert_eq!(b.pid(), pid, "pid changed on start");

    fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    b.wait_status("stopped");
    assert!(created.stdout_now().contains("bye"));

    b.delete().ok();
    b.rt()
        .run(&["state", b.id()])
        .failed()
        .says("does not exist");
    b.assert_no_leftovers();
}

#[test]
fn run_returns_the_exit_code_and_passes_stdout_and_stderr() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sh", "-c", "echo to-out; echo to-err >&2; exit 3"]);
    let out = b.run();
    assert_eq!(out.code(), Some(3), "{out:?}");
    assert!(out.stdout.contains("to-out"), "{out:?}");
    assert!(out.stderr.contains("to-err"), "{out:?}");
    rt.run(&["state", b.id()]).failed().says("does not exist");
    b.assert_no_leftovers();
}

#[test]
fn run_of_a_container_killed_by_a_signal_returns_128_plus_the_signal() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    let running = b.call("run", &[]).spawn();
    b.wait_status("running");
    b.kill("KILL").ok();
    let out = running.wait(SECS);
    assert_eq!(out.code(), Some(128 + 9), "{out:?}");
    b.assert_no_leftovers();
}

#[test]
fn run_detached_leaves_the_container_running() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    b.run_with(&["--detach"]).ok();
    assert_eq!(b.status(), "running");
    let pid = b.pid();
    // start may return just before init's execve.
    wait_for("the user program", SECS, || {
        cmdline(pid).starts_with("sleep 100").then_some(())
    });
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn pid_file_holds_the_init_pid_without_newline() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    let pid_file = b.path().join("init.pid");
    b.create_with(&["--pid-file", pid_file.to_str().unwrap()])
        .ok();
    let text = fs::read_to_string(&pid_file).unwrap();
    assert_eq!(text, b.pid().to_string(), "pid file {text:?}");

    let d = Bundle::new(&rt, &["sleep", "100"]);
    let pid_file = d.path().join("run.pid");
    d.run_with(&["-d", "--pid-file", pid_file.to_str().unwrap()])
        .ok();
    assert_eq!(fs::read_to_string(&pid_file).unwrap(), d.pid().to_string());
}

#[test]
fn run_keep_keeps_the_stopped_container() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sh", "-c", "exit 4"]);
    let out = b.run_with(&["--keep"]);
    assert_eq!(out.code(), Some(4), "{out:?}");
    assert_eq!(b.status(), "stopped");
    b.delete().ok();
    b.assert_no_leftovers();
}

#[test]
fn start_twice_fails() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    b.create().ok();
    b.start().ok();
    b.start().failed();
    assert_eq!(b.status(), "running");

    let s = Bundle::new(&rt, &["true"]);
    s.create().ok();
    s.start().ok();
    s.wait_status("stopped");
    s.start().failed();
}

#[test]
fn delete_of_a_running_container_needs_force() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    b.run_with(&["-d"]).ok();
    let pid = b.pid();
    b.delete().failed();
    assert_eq!(b.status(), "running");
    assert!(fs::metadata(format!("/proc/{pid}")).is_ok());
    b.delete_force().ok();
    rt.run(&["state", b.id()]).failed().says("does not exist");
    b.assert_no_leftovers();
}

#[test]
fn delete_force_of_a_created_container_removes_it() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    b.create().ok();
    b.delete_force().ok();
    rt.run(&["state", b.id()]).failed().says("does not exist");
    b.assert_no_leftovers();
}

#[test]
fn kill_of_a_stopped_container_fails() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["true"]);
    b.create().ok();
    b.start().ok();
    b.wait_status("stopped");
    b.kill("KILL").failed().says("not running");
}

#[test]
fn kill_sends_sigterm_by_default_and_takes_names_and_numbers() {
    let Some(rt) = setup() else { return };
    let b = trapping(&rt, None);
    let out = b.run_with(&["-d"]);
    out.ok();
    let seen = |n: usize, what: &str| out.wait_stdout(what, SECS, |o| o.matches(what).count() >= n);
    seen(1, "ready");
    rt.run(&["kill", b.id()]).ok();
    seen(1, "got-TERM");
    b.kill("USR1").ok();
    seen(1, "got-USR1");
    b.kill("SIGUSR1").ok();
    seen(2, "got-USR1");
    b.kill("10").ok();
    seen(3, "got-USR1");
    b.kill("SIGHUP").ok();
    seen(1, "got-HUP");
    assert_eq!(b.status(), "running");

    for sig in ["KILL", "SIGKILL", "9"] {
        let k = Bundle::new(&rt, &["sleep", "100"]);
        k.run_with(&["-d"]).ok();
        k.kill(sig).ok();
        k.wait_status("stopped");
        k.delete().ok();
        k.assert_no_leftovers();
    }
}

#[test]
fn kill_all_reaches_every_process_and_plain_kill_only_init() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["/init.sh"]);
    b.script(
        "/child.sh",
        "trap 'echo child-TERM' TERM\necho child-ready\nwhile :; do sleep 0.05; done",
    );
    b.script(
        "/init.sh",
        "trap 'echo init-TERM' TERM\n/child.sh &\necho ready\nwhile :; do sleep 0.05; done",
    );
    let out = b.run_with(&["-d"]);
    out.ok();
    out.wait_stdout("init and child ready", SECS, |o| {
        o.lines().any(|l| l == "ready") && o.contains("child-ready")
    });
    b.kill("TERM").ok();
    out.wait_stdout("init-TERM", SECS, |o| o.contains("init-TERM"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !out.stdout_now().contains("child-TERM"),
        "plain kill reached a child"
    );

    rt.run(&["kill", "--all", b.id(), "TERM"]).ok();
    out.wait_stdout("child-TERM", SECS, |o| o.contains("child-TERM"));
    out.wait_stdout("a second init-TERM", SECS, |o| {
        o.matches("init-TERM").count() == 2
    });

    rt.run(&["kill", "--all", b.id(), "KILL"]).ok();
    b.wait_status("stopped");
    b.delete().ok();
    b.assert_no_leftovers();
}

#[test]
fn state_has_every_field() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["sleep", "100"]);
    b.edit(|c| c["annotations"] = serde_json::json!({"org.cella.test": "yes"}));
    b.create().ok();
    let st = b.state();
    assert!(
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{st}"
    );
    assert_eq!(st["id"], b.id());
    assert!(st["pid"].as_i64().unwrap() > 0);
    assert_eq!(st["status"], "created");
    assert_eq!(st["bundle"], b.path().to_str().unwrap());
    assert_eq!(st["rootfs"], b.rootfs().to_str().unwrap());
    let created = st["created"].as_str().unwrap();
    assert!(
        created.len() >= 20 && created.as_bytes()[10] == b'T',
        "created: {created}"
    );
    assert!(st.get("owner").is_some(), "{st}");
    assert_eq!(st["annotations"]["org.cella.test"], "yes", "{st}");
}

#[test]
fn list_prints_table_quiet_and_json() {
    let Some(rt) = setup() else { return };
    let empty = rt.list(&["-q"]);
    empty.ok();
    assert_eq!(empty.stdout.trim(), "");

    let a = Bundle::new(&rt, &["sleep", "100"]);
    a.create().ok();
    let r = Bundle::new(&rt, &["sleep", "100"]);
    r.run_with(&["-d"]).ok();

    let table = rt.list(&[]);
    table.ok();
    let mut lines = table.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{table:?}");
    for (bundle, status) in [(&a, "created"), (&r, "running")] {
        let row = rows
            .iter()
            .find(|row| row[0] == bundle.id())
            .expect("row of container");
        assert_eq!(row[1], bundle.pid().to_string());
        assert_eq!(row[2], status);
        assert_eq!(row[3], bundle.path().to_str().unwrap());
        assert_eq!(row[5], "root");
    }

    let quiet = rt.list(&["-q"]);
    let mut ids: Vec<&str> = quiet.stdout.lines().collect();
    ids.sort();
    let mut want = vec![a.id(), r.id()];
    want.sort();
    assert_eq!(ids, want);

    let json = rt.list(&["--format", "json"]);
    let v: Value = serde_json::from_str(&json.stdout).expect("list json");
    let items = v.as_array().expect("array");
    assert_eq!(items.len(), 2);
    for item in items {
        for key in [
            "id", "pid", "status", "bundle", "rootfs", "created", "owner",
        ] {
            assert!(item.get(key).is_some(), "{key} missing in {item}");
        }
        let b = if item["id"] == a.id() { &a } else { &r };
        assert_eq!(item["pid"], b.pid());
        assert_eq!(item["bundle"], b.path().to_str().unwrap());
        assert_eq!(item["rootfs"], b.rootfs().to_str().unwrap());
        assert_eq!(item["owner"], "root");
    }
}

#[test]
fn run_forwards_signals_to_the_container() {
    let Some(rt) = setup() else { return };
    let b = trapping(&rt, Some(7));
    let mut running = b.call("run", &[]).spawn();
    running.wait_stdout("ready", SECS);
    running.signal(Signal::SIGUSR1);
    running.wait_stdout("got-USR1", SECS);
    running.signal(Signal::SIGHUP);
    running.wait_stdout("got-HUP", SECS);
    running.signal(Signal::SIGTERM);
    let out = running.wait(SECS);
    assert!(out.stdout.contains("got-TERM"), "{out:?}");
    assert_eq!(out.code(), Some(7), "{out:?}");
    b.assert_no_leftovers();
}

fn list_json(rt: &Runtime) -> Vec<Value> {
    let out = rt.list(&["--format", "json"]);
    out.ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("list --format json is not JSON ({e}):\n{out:?}"));
    match v {
        // runc prints null for an empty list.
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        other => panic!("list --format json is not an array: {other}"),
    }
}

#[test]
fn concurrent_lifecycles_never_corrupt_state() {
    let Some(rt) = setup() else { return };
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let lister = s.spawn(|| {
            let mut lists = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let out = rt.list(&["--format", "json"]);
                // runc 1.1.5 fails a list that races with a delete (RUNC-DIFFERENCES.md).
                if !rt.is_cella() && out.stderr.contains("no such file or directory") {
                    continue;
                }
                out.ok();
                let items: Value = serde_json::from_str(&out.stdout).expect("list json");
                for item in items.as_array().into_iter().flatten() {
                    let status = item["status"].as_str().unwrap_or_default();
                    assert!(
                        ["creating", "created", "running", "stopped"].contains(&status),
                        "bad status in {item}"
                    );
                    assert!(item["id"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("cella-test-"));
                }
                lists += 1;
            }
            lists
        });
        let workers: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..3 {
                        let b = Bundle::new(&rt, &["sleep", "100"]);
                        b.create().ok();
                        b.start().ok();
                        assert_eq!(b.status(), "running");
                        b.kill("KILL").ok();
                        b.wait_status("stopped");
                        b.delete().ok();
                        b.assert_no_leftovers();
                    }
                })
            })
            .collect();
        // Every worker is joined and the lister stopped before any failure is raised: a
        // panicking worker must fail the test, not leave the lister looping forever.
        let results: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let lists = lister.join().unwrap();
        for r in results {
            if let Err(panic) = r {
                std::panic::resume_unwind(panic);
            }
        }
        assert!(lists > 0);
    });
    assert!(list_json(&rt).is_empty());
}

#[test]
fn hundred_containers_ten_at_a_time_list_right_and_leave_nothing() {
    let Some(rt) = setup() else { return };
    for _batch in 0..10 {
        let bundles: Vec<Bundle> = (0..10)
            .map(|_| Bundle::new(&rt, &["sleep", "100"]))
            .collect();
        let mut want: Vec<&str> = bundles.iter().map(Bundle::id).collect();
        want.sort();
        let in_parallel = |f: &(dyn Fn(&Bundle) + Sync)| {
            std::thread::scope(|s| {
                for b in &bundles {
                    s.spawn(move || f(b));
                }
            })
        };
        let check = |status: &str| {
            let items = list_json(&rt);
            let mut ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
            ids.sort();
            assert_eq!(ids, want);
            for item in &items {
                assert_eq!(item["status"], status, "{item}");
                assert!(item["pid"].as_i64().unwrap() > 0, "{item}");
            }
        };
        in_parallel(&|b| {
            b.create().ok();
        });
        check("created");
        in_parallel(&|b| {
            b.start().ok();
        });
        check("running");
        in_parallel(&|b| {
            b.delete_force().ok();
        });
        assert!(list_json(&rt).is_empty());
        let quiet = rt.list(&["-q"]);
        assert_eq!(quiet.stdout.trim(), "", "{quiet:?}");
        for b in &bundles {
            b.assert_no_leftovers();
        }
    }
}

#[test]
fn leftovers_sees_a_live_container() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    b.run_with(&["-d"]).ok();
    let found = b.leftovers();
    let has = |what: &str| found.iter().any(|f| f.starts_with(what));
    assert!(has("state dir"), "{found:?}");
    assert!(has("process"), "{found:?}");
    assert!(has("cgroup"), "{found:?}");
    b.delete_force().ok();
    b.assert_no_leftovers();
}

/// runtime.md: "Attempting to delete a container that is not stopped MUST generate an error."
/// runc 1.1.5 deletes a created one (killing its init); cella follows the spec and needs
/// --force, as for a running one (RUNC-DIFFERENCES.md). Either way nothing is left after.
#[test]
fn delete_of_a_created_container_follows_the_spec() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    b.create().ok();
    let pid = b.pid();
    if rt.is_cella() {
        b.delete().failed().says("not stopped");
        assert_eq!(b.status(), "created");
        b.delete_force().ok();
    } else {
        b.delete().ok();
    }
    rt.run(&["state", b.id()]).failed().says("does not exist");
    wait_for("the init to die", SECS, || {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
        matches!(state, None | Some('Z')).then_some(())
    });
    b.assert_no_leftovers();
}
