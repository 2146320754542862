//! Operations on a live container: ps, pause/resume, update, events (statistics and OOM).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use integration_tests::{setup, wait_for, Bundle, Runtime};
use serde_json::{json, Value};

const SECS: Duration = Duration::from_secs(10);

/// A started container whose init is `script` (a busybox shell script).
fn started(rt: &Runtime, script: &str) -> Bundle {
    let b = Bundle::new(rt, &["/main.sh"]);
    b.script("/main.sh", script);
    b.create().ok();
    b.start().ok();
    b
}

/// Init plus a `sleep` child; "ready" in /tmp/ready once both exist.
fn with_child(rt: &Runtime) -> Bundle {
    started(rt, "sleep 1000 &\necho $! > /tmp/ready\nwait")
}

fn child_pids(pid: i32) -> Vec<i32> {
    let children =
        fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    children
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// Waits for the init of `b` to have its `sleep` child; both host pids.
fn init_and_child(b: &Bundle) -> (i32, i32) {
    let pid = b.pid();
    let child = wait_for("the container's child process", SECS, || {
        b.rootfs().join("tmp/ready").exists().then_some(())?;
        child_pids(pid).first().copied()
    });
    (pid, child)
}

fn unified_host() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The file `name` of `controller` in the cgroup of host process `pid`, from /proc/PID/cgroup
/// (the test runs in the host's cgroup namespace, so the paths are complete).
fn cgroup_file(pid: i32, controller: &str, name: &str) -> PathBuf {
    let lines = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in lines.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        let path = path.trim_start_matches('/');
        if unified_host() && ctrls.is_empty() {
            return Path::new("/sys/fs/cgroup").join(path).join(name);
        }
        if !unified_host() && ctrls.split(',').any(|c| c == controller) {
            return Path::new("/sys/fs/cgroup")
                .join(controller)
                .join(path)
                .join(name);
        }
    }
    panic!("no {controller} cgroup for {pid} in:\n{lines}");
}

fn read_trimmed(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// (file, expected content) for memory limit, pids limit and cpu quota/period, per host type.
fn limit_files(
    pid: i32,
    memory: u64,
    pids: u64,
    quota: u64,
    period: u64,
) -> Vec<(PathBuf, String)> {
    if unified_host() {
        vec![
            (cgroup_file(pid, "", "memory.max"), memory.to_string()),
            (cgroup_file(pid, "", "pids.max"), pids.to_string()),
            (cgroup_file(pid, "", "cpu.max"), format!("{quota} {period}")),
        ]
    } else {
        vec![
            (
                cgroup_file(pid, "memory", "memory.limit_in_bytes"),
                memory.to_string(),
            ),
            (cgroup_file(pid, "pids", "pids.max"), pids.to_string()),
            (
                cgroup_file(pid, "cpu", "cpu.cfs_quota_us"),
                quota.to_string(),
            ),
            (
                cgroup_file(pid, "cpu", "cpu.cfs_period_us"),
                period.to_string(),
            ),
        ]
    }
}

#[track_caller]
fn assert_files(files: &[(PathBuf, String)]) {
    for (path, want) in files {
        assert_eq!(&read_trimmed(path), want, "{}", path.display());
    }
}

/// `events --stats ID` parsed, with its envelope checked.
#[track_caller]
fn stats(rt: &Runtime, id: &str) -> Value {
    let out = rt.run(&["events", "--stats", id]);
    out.ok();
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    let ev: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(ev["type"], "stats", "{ev}");
    assert_eq!(ev["id"], id, "{ev}");
    ev["data"].clone()
}

#[test]
fn ps_lists_the_init_and_its_children() {
    let Some(rt) = setup() else { return };
    let b = with_child(&rt);
    let (pid, child) = init_and_child(&b);

    let out = rt.run(&["ps", "--format", "json", b.id()]);
    out.ok();
    let pids: Vec<i32> = serde_json::from_str(&out.stdout).unwrap();
    assert!(pids.contains(&pid) && pids.contains(&child), "{out:?}");
    assert!(!pids.contains(&(std::process::id() as i32)));

    let out = rt.run(&["ps", b.id()]);
    out.ok();
    let mut lines = out.stdout.lines();
    let header = lines.next().unwrap();
    let col = header
        .split_whitespace()
        .position(|f| f == "PID")
        .unwrap_or_else(|| panic!("no PID column: {out:?}"));
    assert!(header.contains("CMD"), "ps -ef by default: {header}");
    let rows: Vec<i32> = lines
        .map(|l| l.split_whitespace().nth(col).unwrap().parse().unwrap())
        .collect();
    assert!(rows.contains(&pid) && rows.contains(&child), "{out:?}");
    assert!(rows.iter().all(|p| pids.contains(p)), "{out:?}");

    // Arguments after the id go to ps(1).
    let out = rt.run(&["ps", b.id(), "-o", "pid,comm"]);
    out.ok();
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["PID", "COMMAND"], "{out:?}");
    assert!(out.stdout.contains("sleep"), "{out:?}");

    rt.run(&["ps", "cella-test-no-such-container"])
        .failed()
        .says("container does not exist");
}

#[test]
fn pause_stops_the_processes_and_resume_lets_them_go_on() {
    let Some(rt) = setup() else { return };
    let b = started(
        &rt,
        "i=0\nwhile true; do i=$((i+1)); echo $i > /tmp/cnt; sleep 0.02; done",
    );
    let cnt = b.rootfs().join("tmp/cnt");
    let read = || {
        fs::read_to_string(&cnt)
            .unwrap_or_default()
            .trim()
            .parse::<u64>()
            .ok()
    };
    wait_for("the counter to start", SECS, || read().filter(|n| *n > 2));

    rt.run(&["pause", b.id()]).ok();
    assert_eq!(b.status(), "paused");
    let list = rt.list(&["--format", "json"]);
    list.ok();
    let items: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(items[0]["status"], "paused", "{items}");
    let frozen = read();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(read(), frozen, "the counter went on while paused");

    rt.run(&["pause", b.id()])
        .failed()
        .says("container not running");

    rt.run(&["resume", b.id()]).ok();
    assert_eq!(b.status(), "running");
    let before = frozen.unwrap();
    wait_for("the counter to go on", SECS, || {
        read().filter(|n| *n > before + 2)
    });
    rt.run(&["resume", b.id()])
        .failed()
        .says("container not paused");
}

#[test]
fn paused_container_is_killed_and_deleted() {
    let Some(rt) = setup() else { return };
    let b = with_child(&rt);
    init_and_child(&b);
    rt.run(&["pause", b.id()]).ok();
    b.delete().failed();
    b.kill("KILL").ok();
    b.wait_status("stopped");
    b.delete().ok();
    b.assert_no_leftovers();

    let b = with_child(&rt);
    init_and_child(&b);
    rt.run(&["pause", b.id()]).ok();
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn stopped_container_cannot_be_paused_resumed_or_updated() {
    let Some(rt) = setup() else { return };
    let b = started(&rt, "true");
    b.wait_status("stopped");
    rt.run(&["pause", b.id()])
        .failed()
        .says("container not running");
    rt.run(&["resume", b.id()])
        .failed()
        .says("container not paused");
    rt.run(&["update", "--memory", "100M", b.id()])
        .failed()
        .says("container not running");
    rt.run(&["events", "--stats", b.id()])
        .failed()
        .says("is not running");
    for cmd in ["pause", "resume"] {
        rt.run(&[cmd, "cella-test-no-such-container"])
            .failed()
            .says("container does not exist");
    }
}

#[test]
fn update_flags_reach_the_cgroup_and_the_stats() {
    let Some(rt) = setup() else { return };
    let b = with_child(&rt);
    let (pid, _) = init_and_child(&b);
    rt.run(&[
        "update",
        "--memory",
        "100M",
        "--pids-limit",
        "30",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        b.id(),
    ])
    .ok();
    assert_files(&limit_files(pid, 100 << 20, 30, 20000, 100000));
    let s = stats(&rt, b.id());
    assert_eq!(s["memory"]["usage"]["limit"], 100u64 << 20, "{s}");
    assert_eq!(s["pids"]["limit"], 30, "{s}");

    // Only the quota: the period stays.
    rt.run(&["update", "--cpu-quota", "30000", b.id()]).ok();
    assert_files(&limit_files(pid, 100 << 20, 30, 30000, 100000));

    // runc's size syntax and its error phrase.
    rt.run(&["update", "--memory", "1g", b.id()]).ok();
    assert_eq!(stats(&rt, b.id())["memory"]["usage"]["limit"], 1u64 << 30);
    rt.run(&["update", "--memory", "lots", b.id()])
        .failed()
        .says("invalid value for memory");
    rt.run(&["update", "--memory", "1M", "cella-test-no-such-container"])
        .failed()
        .says("container does not exist");
}

#[test]
fn update_resources_from_a_file_and_from_stdin() {
    let Some(rt) = setup() else { return };
    let b = with_child(&rt);
    let (pid, _) = init_and_child(&b);
    let file = rt.scratch().join(format!("{}-resources.json", b.id()));
    let doc = json!({
        "memory": {"limit": 50u64 << 20},
        "cpu": {"quota": 40000, "period": 80000},
        "pids": {"limit": 40}
    });
    fs::write(&file, doc.to_string()).unwrap();
    rt.run(&[
        "update".as_ref(),
        "--resources".as_ref(),
        file.as_os_str(),
        b.id().as_ref(),
    ])
    .ok();
    assert_files(&limit_files(pid, 50 << 20, 40, 40000, 80000));

    let stdin = json!({"memory": {"limit": 60u64 << 20}, "pids": {"limit": 41}});
    rt.call(&["update", "-r", "-", b.id()])
        .stdin(stdin.to_string().as_bytes())
        .output()
        .ok();
    assert_files(&limit_files(pid, 60 << 20, 41, 40000, 80000));
    let s = stats(&rt, b.id());
    assert_eq!(s["pids"]["limit"], 41, "{s}");
    assert_eq!(s["memory"]["usage"]["limit"], 60u64 << 20, "{s}");

    rt.call(&["update", "-r", "-", b.id()])
        .stdin(b"garbage")
        .output()
        .failed();
}

#[test]
fn stats_report_memory_and_pids_in_runcs_shape() {
    let Some(rt) = setup() else { return };
    let b = with_child(&rt);
    init_and_child(&b);
    let s = stats(&rt, b.id());
    for key in [
        "cpu",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "hugetlb",
        "intel_rdt",
        "network_interfaces",
    ] {
        assert!(s.get(key).is_some(), "no {key} in {s}");
    }
    assert!(s["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{s}");
    assert!(s["pids"]["current"].as_u64().unwrap() >= 2, "{s}");
    assert!(s["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{s}");
    assert!(s["memory"]["raw"].is_object(), "{s}");
}

#[test]
fn event_stream_prints_stats_every_interval() {
    let Some(rt) = setup() else { return };
    let b = with_child(&rt);
    init_and_child(&b);
    let mut events = rt.call(&["events", "--interval", "200ms", b.id()]).spawn();
    wait_for("two stats lines", SECS, || {
        (events.stdout_so_far().lines().count() >= 2).then_some(())
    });
    for line in events.stdout_so_far().lines().take(2) {
        let ev: Value = serde_json::from_str(line).unwrap();
        assert_eq!(ev["type"], "stats", "{line}");
        assert_eq!(ev["id"], b.id());
        assert!(
            ev["data"]["pids"]["current"].as_u64().unwrap() >= 1,
            "{line}"
        );
    }
    assert!(!events.exited(), "events stopped early");

    rt.run(&["events", "--interval", "0s", b.id()])
        .failed()
        .says("duration interval must be greater than 0");
}

#[test]
fn oom_kill_is_reported() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/main.sh"]);
    b.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 20u64 << 20}));
    // Allocates only when told, so the event stream is listening first; the string doubles
    // until the 20M limit kills the shell (64M and beyond).
    b.script(
        "/main.sh",
        "while [ ! -e /tmp/go ]; do sleep 0.02; done\n\
         s=0123456789abcdef\nwhile :; do s=$s$s; done",
    );
    b.create().ok();
    b.start().ok();
    let mut events = rt.call(&["events", "--interval", "1s", b.id()]).spawn();
    std::thread::sleep(Duration::from_millis(300));
    fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    wait_for("an oom event", Duration::from_secs(20), || {
        events
            .stdout_so_far()
            .lines()
            .any(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["type"] == "oom"))
            .then_some(())
    });
    let oom = events
        .stdout_so_far()
        .lines()
        .find(|l| l.contains("\"oom\""))
        .unwrap()
        .to_string();
    assert_eq!(
        serde_json::from_str::<Value>(&oom).unwrap(),
        json!({"type": "oom", "id": b.id()})
    );
    b.wait_status("stopped");
    if rt.is_cella() {
        // The stream ends with the container (runc 1.1.5 on cgroup v1 goes on until delete).
        wait_for("events to exit", SECS, || events.exited().then_some(()));
    }
}
