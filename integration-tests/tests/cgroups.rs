//! cgroups (v1 hierarchies, as on this host): `linux.resources` reach the container's own
//! cgroups, which a `cgroup` mount shows inside, read-only, and which go with the container.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use integration_tests::procfs::cgroup_dir;
use integration_tests::{requires, value, Bundle, Req, Runtime};
use serde_json::{json, Value};

fn setup() -> Option<Runtime> {
    let v1 = std::path::Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists()
        && std::path::Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists();
    if !v1 {
        eprintln!("SKIPPED: no cgroup v1 pids and memory hierarchies");
        return None;
    }
    requires(&[Req::Root]).then(Runtime::new)
}

const SECS: Duration = Duration::from_secs(10);

/// runc's default spec's /sys/fs/cgroup mount.
fn cgroup_mount() -> Value {
    json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
           "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]})
}

#[track_caller]
fn read(p: &std::path::Path) -> String {
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn resources_reach_the_containers_cgroups_and_go_with_delete() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| {
        let r = &mut c["linux"]["resources"];
        r["memory"] = json!({"limit": 67108864});
        r["pids"] = json!({"limit": 77});
        r["cpu"] = json!({"shares": 512, "quota": 50000, "period": 100000});
        c["mounts"].as_array_mut().unwrap().push(cgroup_mount());
    });
    b.script(
        "/probe.sh",
        "echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)\n\
         echo pids=$(cat /sys/fs/cgroup/pids/pids.max)\n\
         echo shares=$(cat /sys/fs/cgroup/cpu/cpu.shares)\n\
         echo quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)\n\
         echo ready\nexec sleep 100",
    );
    let out = b.create();
    out.ok();
    let pid = b.pid();
    let dir = |controller: &str| -> PathBuf {
        let d = cgroup_dir(pid, controller)
            .unwrap_or_else(|| panic!("no {controller} cgroup for pid {pid}"));
        // No cgroupsPath: the runtime's default cgroup is named after the id.
        assert!(
            d.file_name().unwrap().to_string_lossy().contains(b.id()),
            "{controller} cgroup {} is not the container's own",
            d.display()
        );
        d
    };
    let (memory, pids, cpu) = (dir("memory"), dir("pids"), dir("cpu"));
    assert_eq!(read(&memory.join("memory.limit_in_bytes")), "67108864");
    assert_eq!(read(&pids.join("pids.max")), "77");
    assert_eq!(read(&cpu.join("cpu.shares")), "512");
    assert_eq!(read(&cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(&cpu.join("cpu.cfs_period_us")), "100000");
    assert!(read(&pids.join("cgroup.procs"))
        .lines()
        .any(|l| l == pid.to_string()));

    b.start().ok();
    out.wait_stdout("the probe", SECS, |o| o.contains("ready"));
    let seen = out.stdout_now();
    assert_eq!(value(&seen, "mem"), "67108864");
    assert_eq!(value(&seen, "pids"), "77");
    assert_eq!(value(&seen, "shares"), "512");
    assert_eq!(value(&seen, "quota"), "50000");

    b.kill("KILL").ok();
    b.wait_status("stopped");
    b.delete().ok();
    for d in [&memory, &pids, &cpu] {
        assert!(!d.exists(), "{} is still there after delete", d.display());
    }
    b.assert_no_leftovers();
}

#[test]
fn cgroup_mount_shows_the_containers_own_cgroups_read_only() {
    let Some(rt) = setup() else { return };
    for cgroupns in [true, false] {
        let mut b = Bundle::new(&rt, &["/probe.sh"]);
        b.edit(|c| {
            c["linux"]["resources"]["pids"] = json!({"limit": 77});
            c["mounts"].as_array_mut().unwrap().push(cgroup_mount());
            if !cgroupns {
                let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
                ns.retain(|n| n["type"] != "cgroup");
            }
        });
        b.script(
            "/probe.sh",
            "echo hierarchies=$(ls /sys/fs/cgroup | tr '\\n' ' ')\n\
             echo pids=$(cat /sys/fs/cgroup/pids/pids.max)\n\
             echo subdirs=$(ls -l /sys/fs/cgroup/pids | grep -c '^d')\n\
             echo mkdir=$(mkdir /sys/fs/cgroup/pids/x 2>&1 && echo ok)\n\
             echo paths=$(cut -d: -f3 /proc/self/cgroup | sort -u | tr '\\n' ' ')\n\
             echo pids_path=$(grep :pids: /proc/self/cgroup | cut -d: -f3)",
        );
        let out = b.run();
        out.ok();
        let o = &out.stdout;
        let hierarchies: Vec<&str> = value(o, "hierarchies").split_whitespace().collect();
        for h in ["memory", "pids", "cpu"] {
            assert!(hierarchies.contains(&h), "{h} missing: {hierarchies:?}");
        }
        // The container's own pids cgroup (the root one has no pids.max), with no children.
        assert_eq!(value(o, "pids"), "77", "cgroupns {cgroupns}");
        assert_eq!(value(o, "subdirs"), "0", "cgroupns {cgroupns}");
        assert!(
            value(o, "mkdir").contains("Read-only file system"),
            "cgroupns {cgroupns}: {o}"
        );
        if cgroupns {
            // In its own cgroup namespace the container's cgroups are the roots.
            assert_eq!(value(o, "paths"), "/");
        } else {
            let path = value(o, "pids_path");
            assert!(path.ends_with(&format!("/{}", b.id())), "{path}");
        }
        b.assert_no_leftovers();
    }
}
