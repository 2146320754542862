//! containerd runs its containers through the runtime under test: `ctr run` (foreground, `-t`,
//! `-d`), `ctr task exec` (with and without `-t`), `task ps`, pause/resume, kill, delete, and a
//! runtime error as the ctr user sees it. containerd's runc.v2 shim calls the runtime as it calls
//! runc (`--root`, `--log <bundle>/log.json --log-format json`, pid files, `kill SIGNUM`,
//! `exec --process FILE --detach --pid-file`, `ps --format json`, pause/resume, delete).
//!
//! Each test starts its own containerd (see integration_tests::containerd) and checks at the
//! end that no process, mount, cgroup or directory of it is left.
//!
//!   CELLA_RUNTIME=/usr/sbin/runc cargo test -p integration-tests --test engine_containerd

use std::time::{Duration, Instant};

use integration_tests::containerd::{Containerd, BUSYBOX_IMAGE};

/// `ctr run [flags] IMAGE ID ARGS...` with the runtime under test.
fn run_args(d: &Containerd, flags: &[&str], id: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec!["run".to_string()];
    all.extend(d.run_flags());
    all.extend(flags.iter().map(|s| s.to_string()));
    all.push(BUSYBOX_IMAGE.into());
    all.push(id.into());
    all.extend(args.iter().map(|s| s.to_string()));
    all
}

/// `ctr task exec --fifo-dir DIR --exec-id EXEC [flags] ID ARGS...`.
fn exec_args(d: &Containerd, flags: &[&str], exec: &str, id: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec![
        "task".to_string(),
        "exec".into(),
        "--fifo-dir".into(),
        d.fifo_dir().display().to_string(),
        "--exec-id".into(),
        exec.into(),
    ];
    all.extend(flags.iter().map(|s| s.to_string()));
    all.push(id.into());
    all.extend(args.iter().map(|s| s.to_string()));
    all
}

/// The STATUS column of `ctr task ls` for `id`.
fn task_status(d: &Containerd, id: &str) -> Option<String> {
    let out = d.ctr(&["task", "ls"]);
    out.ok();
    out.stdout.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.first() == Some(&id)).then(|| cols.get(2).unwrap_or(&"").to_string())
    })
}

#[track_caller]
fn wait_task_status(d: &Containerd, id: &str, want: &str) {
    let start = Instant::now();
    loop {
        let status = task_status(d, id);
        if status.as_deref() == Some(want) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "task {id} is {status:?}, expected {want}\n{}",
            d.daemon_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Nothing of the runtime's state is left for the test's containers.
#[track_caller]
fn runtime_state_is_empty(d: &Containerd) {
    let dir = d.runtime_root().join(d.tag());
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "runtime state left in {}: {left:?}",
        dir.display()
    );
}

#[track_caller]
fn assert_clean(d: Containerd) {
    let left = d.stop();
    assert!(left.is_empty(), "left behind:\n  {}", left.join("\n  "));
}

#[test]
fn ctr_run_passes_output_and_exit_status_and_runtime_errors() {
    let d = Containerd::start(false);

    let out = d.ctr(&run_args(
        &d,
        &["--rm"],
        "exit7",
        &[
            "sh",
            "-c",
            "echo out; echo err >&2; cat /proc/self/cgroup; exit 7",
        ],
    ));
    assert_eq!(out.code(), Some(7), "{out:?}");
    assert!(out.stdout.starts_with("out\n"), "{out:?}");
    assert!(out.stderr.contains("err"), "{out:?}");
    // ctr's default cgroup path is /<namespace>/<id>.
    let cgroup = format!("/{}/exit7", d.tag());
    assert!(out.stdout.contains(&cgroup), "not in {cgroup}: {out:?}");

    let out = d.ctr(&run_args(&d, &["--rm"], "true", &["true"]));
    assert_eq!(out.code(), Some(0), "{out:?}");

    // A missing entrypoint: the shim reads the runtime's JSON log and ctr shows its message,
    // not containerd's "unable to retrieve OCI runtime error".
    let out = d.ctr(&run_args(
        &d,
        &["--rm"],
        "missing",
        &["/no/such/entrypoint"],
    ));
    out.failed();
    out.says("/no/such/entrypoint")
        .says("no such file or directory");
    assert!(
        !out.stderr.contains("unable to retrieve OCI runtime error"),
        "{out:?}"
    );
    // The failed create left no container behind in containerd.
    let ls = d.ctr(&["container", "ls", "-q"]);
    assert!(!ls.stdout.contains("missing"), "{ls:?}");
    runtime_state_is_empty(&d);
    assert_clean(d);
}

#[test]
fn ctr_run_with_a_terminal() {
    let d = Containerd::start(false);
    let out = d
        .ctr_call(d.tag(), &run_args(&d, &["--rm", "-t"], "tty", &["sh"]))
        .tty()
        .stdin(b"tty; echo typed $((6*7))\nexit 5\n")
        .output();
    assert_eq!(out.code(), Some(5), "{out:?}");
    assert!(out.stdout.contains("typed 42"), "{out:?}");
    assert!(out.stdout.contains("/dev/pts/"), "no terminal: {out:?}");
    runtime_state_is_empty(&d);
    assert_clean(d);
}

#[test]
fn ctr_detached_task_exec_ps_pause_resume_kill_delete() {
    let d = Containerd::start(false);
    let script = "trap 'echo term; exit 42' TERM; while :; do sleep 1; done";
    d.ctr(&run_args(&d, &["-d"], "bg", &["sh", "-c", script]))
        .ok();
    wait_task_status(&d, "bg", "RUNNING");

    // exec without a terminal: output and exit status come back.
    let out = d.ctr(&exec_args(
        &d,
        &[],
        "e1",
        "bg",
        &["sh", "-c", "echo exec-out; echo exec-err >&2; exit 4"],
    ));
    assert_eq!(out.code(), Some(4), "{out:?}");
    assert_eq!(out.stdout, "exec-out\n", "{out:?}");
    assert!(out.stderr.contains("exec-err"), "{out:?}");

    // exec -t gets a terminal of its own, again and again (the pty of one exec must not
    // linger in the container: it once stayed mounted on /dev/console and broke the next).
    for n in 0..3 {
        let exec_id = format!("t{n}");
        let args = exec_args(&d, &["-t"], &exec_id, "bg", &["sh", "-c", "tty; exit 6"]);
        let out = d.ctr_call(d.tag(), &args).tty().output();
        assert_eq!(out.code(), Some(6), "{out:?}");
        assert!(out.stdout.contains("/dev/pts/"), "{out:?}");
    }

    // A detached exec shows up in task ps next to the init process.
    d.ctr(&exec_args(&d, &["-d"], "e3", "bg", &["sleep", "1000"]))
        .ok();
    let ps = d.ctr(&["task", "ps", "bg"]);
    ps.ok();
    let rows: Vec<&str> = ps.stdout.lines().skip(1).collect();
    assert!(rows.len() >= 2, "{ps:?}");
    assert!(rows.iter().any(|r| r.contains("e3")), "{ps:?}");

    d.ctr(&["task", "pause", "bg"]).ok();
    wait_task_status(&d, "bg", "PAUSED");
    let freezer = std::path::Path::new("/sys/fs/cgroup/freezer")
        .join(d.tag())
        .join("bg/freezer.state");
    if freezer.exists() {
        let state = std::fs::read_to_string(&freezer).unwrap();
        assert_eq!(state.trim(), "FROZEN");
    }
    d.ctr(&["task", "resume", "bg"]).ok();
    wait_task_status(&d, "bg", "RUNNING");

    // SIGTERM (the shim passes it as a number) reaches the trap; the exit status is 42.
    d.ctr(&["task", "kill", "--signal", "SIGTERM", "bg"]).ok();
    wait_task_status(&d, "bg", "STOPPED");
    let del = d.ctr(&["task", "delete", "bg"]);
    del.ok();
    assert!(del.stderr.contains("exit code 42"), "{del:?}");
    d.ctr(&["container", "delete", "bg"]).ok();

    // kill --all reaches every process of the container.
    let script = "sleep 1000 & sleep 1000 & wait";
    d.ctr(&run_args(&d, &["-d"], "all", &["sh", "-c", script]))
        .ok();
    wait_task_status(&d, "all", "RUNNING");
    d.ctr(&["task", "kill", "--all", "--signal", "SIGKILL", "all"])
        .ok();
    wait_task_status(&d, "all", "STOPPED");
    let del = d.ctr(&["task", "delete", "all"]);
    del.ok();
    assert!(del.stderr.contains("exit code 137"), "{del:?}");
    d.ctr(&["container", "delete", "all"]).ok();

    runtime_state_is_empty(&d);
    assert_clean(d);
}

/// A failing test still leaves nothing: the guard's Drop resumes a paused task, kills and
/// deletes it, stops the daemon and removes the rest. While it runs, the leftovers check does
/// see the daemon's processes, cgroups and directory.
#[test]
fn a_failed_test_leaves_nothing_behind() {
    let d = Containerd::start(false);
    let marks = d.marks();
    let script = "while :; do sleep 1; done";
    d.ctr(&run_args(&d, &["-d"], "stuck", &["sh", "-c", script]))
        .ok();
    wait_task_status(&d, "stuck", "RUNNING");
    d.ctr(&["task", "pause", "stuck"]).ok();
    wait_task_status(&d, "stuck", "PAUSED");
    let now = marks.leftovers().join("\n");
    for what in ["process", "cgroup", "directory"] {
        assert!(now.contains(what), "the check misses the {what}:\n{now}");
    }
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _d = d;
        panic!("a test failing with a paused container");
    }));
    assert!(failed.is_err());
    let left = marks.leftovers();
    assert!(left.is_empty(), "left behind:\n  {}", left.join("\n  "));
}
