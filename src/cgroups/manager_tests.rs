use std::fs;
use std::os::fd::AsRawFd;

use super::*;
use crate::cgroups::freezer::FreezerState;
use crate::cgroups::testutil::{get, put, sleeper, FakeHost, HostCgroup, PURE_V2};

/// Stands in for the kernel: fills cgroup.procs in every leaf.
fn put_procs(m: &Manager, content: &str) {
    for dir in m.leaf_dirs() {
        put(&dir, "cgroup.procs", content);
    }
}

#[test]
fn hybrid_manager_joins_every_hierarchy() {
    let host = FakeHost::hybrid();
    let m = host.manager(None, "ctr");
    assert_eq!(m.mode(), CgroupMode::Hybrid);
    let h: Vec<(&str, &str, &str)> = m
        .hierarchies()
        .iter()
        .map(|h| (h.controllers.as_str(), h.mount.as_str(), h.path.as_str()))
        .collect();
    assert_eq!(
        h,
        [
            ("cpu", "cpu", "ctr"),
            ("cpuacct", "cpuacct", "ctr"),
            ("cpuset", "cpuset", "ctr"),
            ("memory", "memory", "process_api/817d/ctr"),
            ("devices", "devices", "ctr"),
            ("freezer", "freezer", "ctr"),
            ("blkio", "blkio", "ctr"),
            ("pids", "pids", "ctr"),
            ("name=systemd", "systemd", "ctr"),
            ("", "unified", "ctr"),
        ]
    );
    assert!(m.hierarchies()[9].unified);
    assert_eq!(
        m.controller_dir("memory").unwrap(),
        host.root().join("memory/process_api/817d/ctr")
    );
    assert_eq!(
        m.controller_dir("").unwrap(),
        host.root().join("unified/ctr")
    );
    assert_eq!(m.version(), CgroupVersion::V1);
}

#[test]
fn comounted_controllers_share_one_directory() {
    let mountinfo = "\
1 0 0:1 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
2 0 0:2 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices
";
    let host = FakeHost::new(mountinfo, "3:cpu,cpuacct:/\n2:devices:/\n0::/\n");
    let m = host.manager(Some("/a/b"), "ctr");
    assert_eq!(m.mode(), CgroupMode::Legacy);
    assert_eq!(m.leaf_dirs().len(), 2);
    assert_eq!(m.controller_dir("cpuacct"), m.controller_dir("cpu"));
    assert_eq!(
        m.controller_dir("cpu").unwrap(),
        host.root().join("cpu,cpuacct/a/b")
    );
}

#[test]
fn v1_without_devices_hierarchy_is_refused() {
    let host = FakeHost::new(
        "1 0 0:1 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
        "1:cpu:/\n",
    );
    let config = host.sources.config(None, "ctr").unwrap();
    assert!(matches!(
        Manager::new(&config),
        Err(CgroupError::NoDevicesHierarchy)
    ));
}

#[test]
fn create_records_only_what_it_made_and_destroy_removes_exactly_that() {
    let host = FakeHost::hybrid();
    fs::create_dir_all(host.root().join("memory/process_api/817d/pod")).unwrap();
    let mut m = host.manager(Some("pod/ctr"), "ctr");
    m.create().unwrap();
    for dir in m.leaf_dirs() {
        assert!(dir.is_dir(), "{}", dir.display());
    }
    let mem = m
        .hierarchies()
        .iter()
        .find(|h| h.controllers == "memory")
        .unwrap();
    assert_eq!(mem.created, ["process_api/817d/pod/ctr"]);
    let cpu = &m.hierarchies()[0];
    assert_eq!(cpu.created, ["pod", "pod/ctr"]);

    // A second create (e.g. retried) finds everything and records nothing twice.
    let before = m.state().clone();
    m.create().unwrap();
    assert_eq!(m.state(), &before);

    m.destroy().unwrap();
    assert!(!host.root().join("cpu/pod").exists());
    assert!(!host.root().join("unified/pod").exists());
    // Found, not made: stays.
    assert!(host.root().join("memory/process_api/817d/pod").is_dir());
    // Idempotent.
    m.destroy().unwrap();
}

#[test]
fn plan_created_lists_before_create_what_create_makes() {
    let host = FakeHost::hybrid();
    fs::create_dir_all(host.root().join("memory/process_api/817d/pod")).unwrap();
    let mut planned = host.manager(Some("pod/ctr"), "ctr");
    planned.plan_created();
    // Nothing made yet.
    assert!(!host.root().join("cpu/pod").exists());
    let mem = |m: &Manager| {
        m.hierarchies()
            .iter()
            .find(|h| h.controllers == "memory")
            .unwrap()
            .created
            .clone()
    };
    assert_eq!(mem(&planned), ["process_api/817d/pod/ctr"]);
    assert_eq!(planned.hierarchies()[0].created, ["pod", "pod/ctr"]);
    let before = planned.state().clone();
    planned.create().unwrap();
    assert_eq!(planned.state(), &before);
    planned.destroy().unwrap();
    assert!(!host.root().join("cpu/pod").exists());
    assert!(host.root().join("memory/process_api/817d/pod").is_dir());
}

#[test]
fn shared_parent_stays_until_its_last_user_is_gone() {
    let host = FakeHost::hybrid();
    let mut a = host.manager(Some("/shared/a"), "a");
    a.create().unwrap();
    let mut b = host.manager(Some("/shared/b"), "b");
    b.create().unwrap();
    assert_eq!(b.hierarchies()[0].created, ["shared/b"]);
    a.destroy().unwrap();
    assert!(host.root().join("cpu/shared/b").is_dir());
    b.destroy().unwrap();
    // a made /shared, b did not: after a's destroy found it busy, nobody removes it.
    assert!(host.root().join("cpu/shared").is_dir());
    // delete run again for a (from state) now removes it.
    Manager::from_state(a.state(), host.root())
        .unwrap()
        .destroy()
        .unwrap();
    assert!(!host.root().join("cpu/shared").exists());
}

#[test]
fn state_round_trips_through_json_and_rebuilds_the_manager() {
    let host = FakeHost::hybrid();
    let mut m = host.manager(None, "ctr");
    m.create().unwrap();
    let json = serde_json::to_string(m.state()).unwrap();
    assert!(json.contains(r#""mode":"hybrid""#), "{json}");
    let state: CgroupState = serde_json::from_str(&json).unwrap();
    let again = Manager::from_state(&state, host.root()).unwrap();
    assert_eq!(again.leaf_dirs(), m.leaf_dirs());
    again.destroy().unwrap();
    assert!(m.leaf_dirs().iter().all(|d| !d.exists()));
}

#[test]
fn state_with_escaping_paths_is_refused() {
    let host = FakeHost::hybrid();
    let m = host.manager(None, "ctr");
    let mut bad = m.state().clone();
    bad.hierarchies[0].path = "../../etc".into();
    assert!(matches!(
        Manager::from_state(&bad, host.root()),
        Err(CgroupError::InvalidState(_))
    ));
    let mut bad = m.state().clone();
    bad.hierarchies[0].created = vec!["elsewhere".into()];
    assert!(Manager::from_state(&bad, host.root()).is_err());
    let mut bad = m.state().clone();
    bad.hierarchies[0].mount = "/".into();
    assert!(Manager::from_state(&bad, host.root()).is_err());
}

#[test]
fn v2_create_delegates_controllers_on_every_level() {
    let host = FakeHost::unified("0::/user.slice/s.scope\n");
    let root = host.root().to_path_buf();
    put(&root, "cgroup.controllers", "cpuset cpu io memory pids");
    put(&root, "cgroup.subtree_control", "memory");
    fs::create_dir_all(root.join("user.slice")).unwrap();
    put(&root.join("user.slice"), "cgroup.controllers", "cpu memory");
    put(&root.join("user.slice"), "cgroup.subtree_control", "");
    let mut m = host.manager(None, "ctr");
    assert_eq!(m.leaf_dirs(), [root.join("user.slice/ctr")]);
    m.create().unwrap();
    // Each write is what the kernel would receive (the fake keeps the last one).
    assert_eq!(
        get(&root, "cgroup.subtree_control"),
        "+cpuset +cpu +io +pids"
    );
    assert_eq!(
        get(&root.join("user.slice"), "cgroup.subtree_control"),
        "+cpu +memory"
    );
    assert_eq!(m.hierarchies()[0].created, ["user.slice/ctr"]);
}

#[test]
fn open_dir_opens_the_cgroup2_leaf_of_unified_and_hybrid_hosts() {
    let host = FakeHost::hybrid();
    let mut m = host.manager(None, "ctr");
    m.create().unwrap();
    let fd = m.open_dir().unwrap().unwrap();
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).unwrap();
    let unified = nix::sys::stat::stat(&host.root().join("unified/ctr")).unwrap();
    assert_eq!(st.st_ino, unified.st_ino);

    let legacy: String = crate::cgroups::testutil::HYBRID
        .lines()
        .filter(|l| !l.contains("cgroup2"))
        .map(|l| format!("{l}\n"))
        .collect();
    let host = FakeHost::new(&legacy, crate::cgroups::testutil::HYBRID_OWN);
    let mut m = host.manager(None, "ctr");
    m.create().unwrap();
    assert!(m.open_dir().unwrap().is_none());

    let host = FakeHost::unified("0::/\n");
    let mut m = host.manager(Some("/c"), "c");
    assert!(matches!(m.open_dir(), Err(CgroupError::OpenDir { .. })));
    m.create().unwrap();
    let fd = m.open_dir().unwrap().unwrap();
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).unwrap();
    assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFDIR);
}

#[test]
fn add_process_writes_every_hierarchy_and_names_the_file_on_error() {
    let host = FakeHost::hybrid();
    let mut m = host.manager(None, "ctr");
    m.create().unwrap();
    let err = m.add_process(42).unwrap_err().to_string();
    assert!(
        err.contains("cpu/ctr/cgroup.procs") && err.contains("os error 2"),
        "{err}"
    );
    put_procs(&m, "");
    m.add_process(42).unwrap();
    for dir in m.leaf_dirs() {
        assert_eq!(get(&dir, "cgroup.procs"), "42");
    }
}

#[test]
fn processes_is_the_union_over_hierarchies_and_sub_cgroups() {
    let host = FakeHost::hybrid();
    let mut m = host.manager(None, "ctr");
    m.create().unwrap();
    assert!(m.processes().unwrap().is_empty());
    put_procs(&m, "7\n3\n");
    let pids_dir = m.controller_dir("pids").unwrap();
    fs::create_dir(pids_dir.join("sub")).unwrap();
    put(&pids_dir.join("sub"), "cgroup.procs", "11\n");
    assert_eq!(m.processes().unwrap(), [3, 7, 11]);
    put(&pids_dir, "cgroup.procs", "x\n");
    assert!(matches!(m.processes(), Err(CgroupError::Parse { .. })));
}

#[test]
fn destroy_kills_and_waits_for_the_cgroup_to_empty() {
    let host = FakeHost::hybrid();
    let mut m = host.manager(None, "ctr");
    m.create().unwrap();
    let freezer = m.controller_dir("freezer").unwrap();
    put(&freezer, "freezer.state", "THAWED");
    let mut child = sleeper();
    put_procs(&m, &format!("{}\n", child.id()));
    // The kernel's part: once the task is dead, its cgroups are empty and their files go
    // away with rmdir.
    let leaves = m.leaf_dirs();
    let kernel = std::thread::spawn(move || {
        let status = child.wait().unwrap();
        // signal_all thaws after signalling; a real freezer.state stays, the fake one must
        // not vanish before that write.
        let state = freezer.join("freezer.state");
        let start = std::time::Instant::now();
        while fs::read_to_string(&state).unwrap() != "THAWED" {
            assert!(start.elapsed() < Duration::from_secs(5), "never thawed");
            std::thread::sleep(Duration::from_millis(1));
        }
        // cgroup.procs last: once every listing is empty, destroy goes on to rmdir.
        for dir in &leaves {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if !path.ends_with("cgroup.procs") {
                    fs::remove_file(path).unwrap();
                }
            }
        }
        for dir in &leaves {
            fs::remove_file(dir.join("cgroup.procs")).unwrap();
        }
        status
    });
    m.destroy().unwrap();
    let status = kernel.join().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(m.leaf_dirs().iter().all(|d| !d.exists()));
}

#[test]
fn destroy_gives_up_when_processes_stay() {
    let host = FakeHost::unified("0::/\n");
    let mut m = host.manager(Some("/c"), "c");
    m.create().unwrap();
    let leaf = m.controller_dir("").unwrap();
    put(&leaf, "cgroup.kill", "");
    let mut child = sleeper();
    put(&leaf, "cgroup.procs", &child.id().to_string());
    let err = m
        .destroy_with_timeout(Duration::from_millis(30))
        .unwrap_err();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(matches!(err, CgroupError::Timeout { .. }), "{err}");
    assert_eq!(get(&leaf, "cgroup.kill"), "1");
    assert!(leaf.is_dir());
}

#[test]
fn v1_freezer_and_signal_all() {
    let host = FakeHost::hybrid();
    let mut m = host.manager(None, "ctr");
    m.create().unwrap();
    let freezer = m.controller_dir("freezer").unwrap();
    put(&freezer, "freezer.state", "THAWED");
    m.freeze().unwrap();
    assert!(m.is_frozen().unwrap());
    m.thaw().unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);

    let mut child = sleeper();
    put_procs(&m, &child.id().to_string());
    m.signal_all(Signal::SIGTERM).unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
    assert_eq!(get(&freezer, "freezer.state"), "THAWED");

    // A paused container stays paused for signals other than SIGKILL.
    put_procs(&m, "");
    m.freeze().unwrap();
    m.signal_all(Signal::SIGUSR1).unwrap();
    assert!(m.is_frozen().unwrap());
    put(&freezer, "freezer.state", "bogus");
    assert!(m.freezer_state().is_err());
}

#[test]
fn v2_freezer_and_cgroup_kill() {
    let host = FakeHost::unified("0::/\n");
    let mut m = host.manager(Some("/c"), "c");
    m.create().unwrap();
    let leaf = m.controller_dir("").unwrap();
    put(&leaf, "cgroup.freeze", "0");
    put(&leaf, "cgroup.events", "populated 1\nfrozen 0\n");
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);
    put(&leaf, "cgroup.freeze", "1");
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Freezing);
    put(&leaf, "cgroup.events", "populated 1\nfrozen 1\n");
    m.freeze().unwrap();
    assert_eq!(get(&leaf, "cgroup.freeze"), "1");
    assert!(m.is_frozen().unwrap());
    m.thaw().unwrap();
    assert_eq!(get(&leaf, "cgroup.freeze"), "0");

    put(&leaf, "cgroup.kill", "");
    m.signal_all(Signal::SIGKILL).unwrap();
    assert_eq!(get(&leaf, "cgroup.kill"), "1");
}

#[test]
fn no_freezer_hierarchy_is_a_clear_error() {
    let text: String = crate::cgroups::testutil::HYBRID
        .lines()
        .filter(|l| !l.contains("freezer"))
        .map(|l| format!("{l}\n"))
        .collect();
    let host = FakeHost::new(&text, crate::cgroups::testutil::HYBRID_OWN);
    let m = host.manager(None, "ctr");
    assert!(matches!(m.freeze(), Err(CgroupError::NoFreezer(_))));
}

#[test]
fn cpuset_values_come_from_the_parent_when_empty() {
    let dir = tempfile::tempdir().unwrap();
    let child = dir.path().join("c");
    fs::create_dir(&child).unwrap();
    put(dir.path(), "cpuset.cpus", "0-1\n");
    put(dir.path(), "cpuset.mems", "0\n");
    put(&child, "cpuset.cpus", "\n");
    put(&child, "cpuset.mems", "0\n");
    copy_cpuset_from_parent(dir.path(), &child).unwrap();
    assert_eq!(get(&child, "cpuset.cpus"), "0-1");
    assert_eq!(get(&child, "cpuset.mems"), "0\n");
}

#[test]
fn pure_v2_sample_gives_one_hierarchy_at_the_root() {
    let host = FakeHost::new(PURE_V2, "0::/\n");
    let m = host.manager(Some("/x"), "x");
    assert_eq!(m.leaf_dirs(), [host.root().join("x")]);
}

/// Privileged: the real hierarchies of this host. Runs only as root; everything it makes is
/// named cella-test-<pid>-<n> and removed even when an assertion fails.
#[test]
fn host_smoke_create_join_freeze_kill_destroy() {
    let Some(mut guard) = HostCgroup::create() else {
        return;
    };
    let m = guard.manager.clone();
    let child = sleeper();
    let pid = child.id() as i32;
    guard.child = Some(child);
    m.add_process(pid).unwrap();
    assert_eq!(m.processes().unwrap(), [pid]);
    m.freeze().unwrap();
    assert!(m.is_frozen().unwrap());
    m.thaw().unwrap();
    assert!(!m.is_frozen().unwrap());
    m.signal_all(Signal::SIGKILL).unwrap();
    let status = guard.child.as_mut().unwrap().wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    guard.child = None;
    m.destroy().unwrap();
    assert!(
        m.leaf_dirs().iter().all(|d| !d.exists()),
        "{:?}",
        m.leaf_dirs()
    );
}
