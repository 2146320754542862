//! Every `linux.resources` field on cgroup v1 (this host's hybrid layout): each test sets
//! fields and reads the values back from outside (the container's cgroup files on the host,
//! found from /proc/PID/cgroup) and from inside (runc's default `cgroup` mount at
//! /sys/fs/cgroup). Limits are then enforced (OOM kill, fork stop, CPU throttling, device
//! rules), and nothing of the container's cgroups is left after delete. What the host cannot
//! apply (controllers not mounted, unified on v1) fails with an error naming it.
//!
//! The same fields on cgroup v2 are checked in the VM: integration-tests/vm/guest-tests.sh.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration_tests::procfs::cgroup_dir;
use integration_tests::{requires, wait_for, Bundle, Output, Req, Runtime};
use serde_json::{json, Value};

const SECS: Duration = Duration::from_secs(10);

/// The v1 controllers every test here needs, each in a hierarchy of its own or comounted.
const NEEDED: &[&str] = &["memory", "cpu", "cpuset", "pids", "blkio", "devices"];

fn setup() -> Option<Runtime> {
    if let Some(c) = NEEDED.iter().find(|c| !v1_mounted(c)) {
        eprintln!("SKIPPED: no cgroup v1 hierarchy for {c} (these are the v1 checks)");
        return None;
    }
    integration_tests::setup()
}

/// Whether a v1 hierarchy carries `controller` (mount options of a "cgroup" mount).
fn v1_mounted(controller: &str) -> bool {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo.lines().any(|l| {
        let Some((_, sup)) = l.split_once(" - ") else {
            return false;
        };
        let f: Vec<&str> = sup.split(' ').collect();
        f.first() == Some(&"cgroup")
            && f.get(2)
                .is_some_and(|o| o.split(',').any(|o| o == controller))
    })
}

/// runc's default spec's /sys/fs/cgroup mount.
fn cgroup_mount() -> Value {
    json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
           "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]})
}

/// A control file's text with its lines joined by '|', as the probe prints it.
fn joined(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("|")
}

/// The container's own directory for `controller`, named after the id (no cgroupsPath).
#[track_caller]
fn dir(b: &Bundle, controller: &str) -> PathBuf {
    let pid = b.pid();
    let d = cgroup_dir(pid, controller)
        .unwrap_or_else(|| panic!("no {controller} cgroup for pid {pid}"));
    assert!(
        d.file_name().unwrap().to_string_lossy() == b.id(),
        "{controller} cgroup {} of pid {pid} is not the container's own; state: {}\n\
         /proc/{pid}/cgroup:\n{}/proc/{pid}/status:\n{}",
        d.display(),
        b.rt().run(&["state", b.id()]).stdout,
        fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default(),
        fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default(),
    );
    d
}

/// `controller/file` as the host sees it, lines joined by '|'.
#[track_caller]
fn outside(b: &Bundle, controller: &str, file: &str) -> String {
    let p = dir(b, controller).join(file);
    joined(&fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())))
}

/// The probe's line `key=value`.
#[track_caller]
fn probed<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in probe output:\n{out}"))
}

/// Whether `want` is the whole value or one of its '|'-joined lines.
fn holds(actual: &str, want: &str) -> bool {
    actual == want || actual.split('|').any(|l| l == want)
}

/// A started container with `resources` and the cgroup mount whose probe printed
/// `controller/file=<content, lines joined by '|'>` for each of `files` (read inside, through
/// the mount), then `extra` (more shell lines), then "ready", and sleeps.
fn probe(rt: &Runtime, resources: Value, files: &[(&str, &str)], extra: &str) -> (Bundle, Output) {
    probe_config(rt, |c| c["linux"]["resources"] = resources, files, extra)
}

/// [`probe`] with any change to the config.
fn probe_config(
    rt: &Runtime,
    edit: impl FnOnce(&mut Value),
    files: &[(&str, &str)],
    extra: &str,
) -> (Bundle, Output) {
    let mut b = Bundle::new(rt, &["/probe.sh"]);
    b.edit(|c| {
        edit(c);
        c["mounts"].as_array_mut().unwrap().push(cgroup_mount());
    });
    let mut body = String::new();
    for (controller, file) in files {
        body.push_str(&format!(
            "echo \"{controller}/{file}=$(tr '\\n' '|' </sys/fs/cgroup/{controller}/{file} \
             2>&1 | sed 's/|$//')\"\n"
        ));
    }
    body.push_str(extra);
    body.push_str("\necho ready\nexec sleep 100");
    b.script("/probe.sh", &body);
    let out = b.create();
    out.ok();
    b.start().ok();
    out.wait_stdout("the probe", SECS, |o| o.contains("ready"));
    (b, out)
}

/// `controller/file` holds `want` seen from the host and from inside the container.
#[track_caller]
fn assert_file(b: &Bundle, out: &Output, controller: &str, file: &str, want: &str) {
    let host = outside(b, controller, file);
    assert!(
        holds(&host, want),
        "{controller}/{file} on the host: {host:?}, want {want:?}"
    );
    let seen = out.stdout_now();
    let inside = probed(&seen, &format!("{controller}/{file}"));
    assert!(
        holds(inside, want),
        "{controller}/{file} inside: {inside:?}, want {want:?}"
    );
}

/// Kills, deletes and checks that nothing is left.
#[track_caller]
fn finish(b: &Bundle) {
    b.kill("KILL").ok();
    b.wait_status("stopped");
    b.delete().ok();
    b.assert_no_leftovers();
}

/// Whether the file exists in the host's root cgroup of `controller` (kernel features).
fn host_has(controller: &str, file: &str) -> bool {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(file)
        .exists()
}

#[test]
fn memory_limits_reach_the_memory_cgroup() {
    let Some(rt) = setup() else { return };
    let swap_accounting = host_has("memory", "memory.memsw.limit_in_bytes");
    let memory = json!({
        "limit": 67108864, "reservation": 33554432, "swap": 100663296, "swappiness": 10,
        "disableOOMKiller": true, "kernel": 52428800, "kernelTCP": 41943040,
        "useHierarchy": true, "checkBeforeUpdate": true
    });
    if !swap_accounting {
        // Without swap accounting a swap limit cannot be applied: a clear error, no container.
        let mut b = Bundle::new(&rt, &["true"]);
        b.edit(|c| c["linux"]["resources"]["memory"] = memory.clone());
        b.run().failed().says("memsw");
        b.assert_no_leftovers();
        eprintln!("no swap accounting on this host: only the error is checked");
        return;
    }
    let files = [
        ("memory", "memory.limit_in_bytes"),
        ("memory", "memory.soft_limit_in_bytes"),
        ("memory", "memory.memsw.limit_in_bytes"),
        ("memory", "memory.swappiness"),
        ("memory", "memory.oom_control"),
        ("memory", "memory.use_hierarchy"),
        ("memory", "memory.kmem.tcp.limit_in_bytes"),
    ];
    let (b, out) = probe(&rt, json!({"memory": memory}), &files, "");
    let check = |file, want| assert_file(&b, &out, "memory", file, want);
    check("memory.limit_in_bytes", "67108864");
    check("memory.soft_limit_in_bytes", "33554432");
    // The spec's swap is memory+swap, as memsw on v1.
    check("memory.memsw.limit_in_bytes", "100663296");
    check("memory.swappiness", "10");
    check("memory.oom_control", "oom_kill_disable 1");
    // Hierarchical accounting is always on in kernels since 5.x; the field must not fail.
    check("memory.use_hierarchy", "1");
    if rt.is_cella() {
        // Deprecated but applied where the kernel still has it (runc 1.1 ignores both kernel
        // fields). The kernel limit itself is a no-op in kernels since 6.x, so not read back.
        check("memory.kmem.tcp.limit_in_bytes", "41943040");
    }
    finish(&b);
}

#[test]
fn invalid_memory_and_cpu_values_are_refused_naming_them() {
    let Some(rt) = setup() else { return };
    let last_cpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    // What the message must contain: one of the words (runc names the file, cella the field).
    let cases: [(Value, &[&str]); 3] = [
        // memory+swap below memory.
        (
            json!({"memory": {"limit": 67108864, "swap": 33554432}}),
            &["memsw", "memory.swap"],
        ),
        (json!({"memory": {"swappiness": 200}}), &["swappiness"]),
        // A CPU the host does not have.
        (
            json!({"cpu": {"cpus": last_cpu.to_string()}}),
            &["cpuset.cpus"],
        ),
    ];
    for (resources, needles) in cases {
        let mut b = Bundle::new(&rt, &["true"]);
        b.edit(|c| c["linux"]["resources"] = resources.clone());
        let out = b.run();
        out.failed();
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(
            needles.iter().any(|n| all.contains(n)),
            "expected one of {needles:?}:\n{out:?}"
        );
        b.assert_no_leftovers();
    }
}

/// The kernel clamps cpu.shares to 2..=262144 without an error; the runtime must not let a
/// value the container will not get pass silently (runc reads it back and refuses it).
#[test]
fn cpu_shares_the_kernel_would_clamp_are_refused() {
    let Some(rt) = setup() else { return };
    for shares in [1, 300000] {
        let mut b = Bundle::new(&rt, &["true"]);
        b.edit(|c| c["linux"]["resources"]["cpu"] = json!({"shares": shares}));
        b.run().failed().says("shares");
        b.assert_no_leftovers();
    }
}

#[test]
fn cpu_limits_reach_the_cpu_and_cpuset_cgroups() {
    let Some(rt) = setup() else { return };
    let cpu = std::thread::available_parallelism().map_or(1, |n| n.get()) - 1;
    let resources = json!({"cpu": {
        "shares": 512, "quota": 25000, "period": 50000, "burst": 5000,
        "cpus": cpu.to_string(), "mems": "0"
    }});
    let files = [
        ("cpu", "cpu.shares"),
        ("cpu", "cpu.cfs_quota_us"),
        ("cpu", "cpu.cfs_period_us"),
        ("cpu", "cpu.cfs_burst_us"),
        ("cpuset", "cpuset.cpus"),
        ("cpuset", "cpuset.mems"),
    ];
    let extra = "echo allowed=$(grep Cpus_allowed_list /proc/self/status | cut -f2)";
    let (b, out) = probe(&rt, resources, &files, extra);
    assert_file(&b, &out, "cpu", "cpu.shares", "512");
    assert_file(&b, &out, "cpu", "cpu.cfs_quota_us", "25000");
    assert_file(&b, &out, "cpu", "cpu.cfs_period_us", "50000");
    if host_has("cpu", "cpu.cfs_burst_us") {
        // runc 1.1 ignores burst (runc 1.2 added it).
        let want = if rt.is_cella() { "5000" } else { "0" };
        assert_file(&b, &out, "cpu", "cpu.cfs_burst_us", want);
    }
    assert_file(&b, &out, "cpuset", "cpuset.cpus", &cpu.to_string());
    assert_file(&b, &out, "cpuset", "cpuset.mems", "0");
    // The kernel applies the cpuset to the container's processes.
    assert_eq!(probed(&out.stdout_now(), "allowed"), cpu.to_string());
    finish(&b);
}

#[test]
fn cpu_idle_marks_the_group_idle() {
    let Some(rt) = setup() else { return };
    if !host_has("cpu", "cpu.idle") {
        eprintln!("SKIPPED: the kernel has no cpu.idle (Linux 5.15+)");
        return;
    }
    let files = [("cpu", "cpu.idle"), ("cpu", "cpu.shares")];
    let (b, out) = probe(&rt, json!({"cpu": {"idle": 1}}), &files, "");
    if rt.is_cella() {
        assert_file(&b, &out, "cpu", "cpu.idle", "1");
        // An idle group gets the lowest weight (the kernel shows shares 3).
        assert_file(&b, &out, "cpu", "cpu.shares", "3");
    } else {
        // runc 1.1 ignores cpu.idle (runc 1.2 added it).
        assert_file(&b, &out, "cpu", "cpu.idle", "0");
    }
    finish(&b);
}

#[test]
fn realtime_runtime_and_period_reach_the_cpu_cgroup() {
    let Some(rt) = setup() else { return };
    let resources = json!({"cpu": {"realtimeRuntime": 20000, "realtimePeriod": 500000}});
    if !host_has("cpu", "cpu.rt_runtime_us") {
        // A kernel without RT group scheduling: the limit cannot be applied, say which file.
        let mut b = Bundle::new(&rt, &["true"]);
        b.edit(|c| c["linux"]["resources"] = resources);
        b.run().failed().says("cpu.rt_");
        b.assert_no_leftovers();
        return;
    }
    let files = [("cpu", "cpu.rt_runtime_us"), ("cpu", "cpu.rt_period_us")];
    let (b, out) = probe(&rt, resources, &files, "");
    assert_file(&b, &out, "cpu", "cpu.rt_runtime_us", "20000");
    assert_file(&b, &out, "cpu", "cpu.rt_period_us", "500000");
    finish(&b);

    // More runtime than period: the kernel refuses it, and the error names the file.
    let mut b = Bundle::new(&rt, &["true"]);
    b.edit(|c| {
        c["linux"]["resources"] =
            json!({"cpu": {"realtimeRuntime": 2000000, "realtimePeriod": 1000000}});
    });
    b.run().failed().says("cpu.rt_runtime_us");
    b.assert_no_leftovers();
}

#[test]
fn pids_limit_reaches_the_pids_cgroup_and_stops_forks() {
    let Some(rt) = setup() else { return };
    // In a subshell, which dies at the first refused fork; the probe goes on.
    let extra = "(for i in $(seq 20); do sleep 5 & done) 2>&1";
    let (b, out) = probe(
        &rt,
        json!({"pids": {"limit": 10}}),
        &[("pids", "pids.max")],
        extra,
    );
    assert_file(&b, &out, "pids", "pids.max", "10");
    assert!(
        out.stdout_now().contains("can't fork"),
        "{}",
        out.stdout_now()
    );
    // The kernel counts the refused forks.
    let events = outside(&b, "pids", "pids.events");
    let refused: u64 = events
        .strip_prefix("max ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("pids.events: {events:?}"));
    assert!(refused > 0, "pids.events: {events:?}");
    assert!(outside(&b, "pids", "pids.current").parse::<u64>().unwrap() <= 10);
    finish(&b);

    // -1 (and 0, which engines send for "unset") mean no limit.
    for limit in [-1, 0] {
        let (b, out) = probe(
            &rt,
            json!({"pids": {"limit": limit}}),
            &[("pids", "pids.max")],
            "",
        );
        assert_file(&b, &out, "pids", "pids.max", "max");
        finish(&b);
    }
}

/// A loop device over a file of our own, so its I/O scheduler can be switched to BFQ (whose
/// files take the block weights) without touching the host's disks. Detached on drop.
struct LoopDevice {
    dev: String,
    majmin: (u32, u32),
    _file: tempfile::NamedTempFile,
}

impl LoopDevice {
    fn new() -> LoopDevice {
        let file = tempfile::Builder::new()
            .prefix("cella-test-loop-")
            .tempfile()
            .unwrap();
        file.as_file().set_len(16 << 20).unwrap();
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(file.path())
            .output()
            .expect("run losetup");
        assert!(out.status.success(), "losetup: {out:?}");
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let mut loop_dev = LoopDevice {
            majmin: (0, 0),
            dev,
            _file: file,
        };
        let text = fs::read_to_string(loop_dev.sys("dev")).unwrap();
        let (major, minor) = text.trim().split_once(':').unwrap();
        loop_dev.majmin = (major.parse().unwrap(), minor.parse().unwrap());
        loop_dev
    }

    fn sys(&self, file: &str) -> PathBuf {
        let name = self.dev.trim_start_matches("/dev/");
        Path::new("/sys/block").join(name).join(file)
    }

    fn set_scheduler(&self, name: &str) {
        fs::write(self.sys("queue/scheduler"), name)
            .unwrap_or_else(|e| panic!("scheduler {name} for {}: {e}", self.dev));
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        // The device outlives its binding: leave it as the next user expects it.
        let _ = fs::write(self.sys("queue/scheduler"), "none");
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

#[test]
fn block_io_weights_and_throttles_reach_the_blkio_cgroup() {
    let Some(rt) = setup() else { return };
    if !requires(&[Req::HostTool("losetup")]) {
        return;
    }
    let dev = LoopDevice::new();
    let (major, minor) = dev.majmin;
    let device = |rate: u64| json!([{"major": major, "minor": minor, "rate": rate}]);
    let weight_device = json!([{"major": major, "minor": minor, "weight": 400}]);
    let with_weight_device = |rt: &Runtime| {
        let mut b = Bundle::new(rt, &["true"]);
        b.edit(|c| {
            c["linux"]["resources"]["blockIO"] = json!({"weightDevice": weight_device});
        });
        b
    };

    // Per-device weights exist only under BFQ: with no scheduler the kernel refuses them, and
    // the error names the file.
    dev.set_scheduler("none");
    let b = with_weight_device(&rt);
    b.run().failed().says("weight_device");
    b.assert_no_leftovers();
    drop(b);

    dev.set_scheduler("bfq");
    // CFQ's files (kernels before 5.0) or BFQ's, whichever the kernel has.
    let cfq = Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists();
    let (weight, per_device) = if cfq {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    let resources = json!({"blockIO": {
        "weight": 300,
        "weightDevice": weight_device,
        "throttleReadBpsDevice": device(1048576),
        "throttleWriteBpsDevice": device(2097152),
        "throttleReadIOPSDevice": device(100),
        "throttleWriteIOPSDevice": device(200),
    }});
    let files = [
        ("blkio", weight),
        ("blkio", per_device),
        ("blkio", "blkio.throttle.read_bps_device"),
        ("blkio", "blkio.throttle.write_bps_device"),
        ("blkio", "blkio.throttle.read_iops_device"),
        ("blkio", "blkio.throttle.write_iops_device"),
    ];
    let (b, out) = probe(&rt, resources, &files, "");
    let line = |v: u64| format!("{major}:{minor} {v}");
    let check = |file: &str, want: &str| assert_file(&b, &out, "blkio", file, want);
    check(weight, "300");
    check(per_device, &line(400));
    check("blkio.throttle.read_bps_device", &line(1048576));
    check("blkio.throttle.write_bps_device", &line(2097152));
    check("blkio.throttle.read_iops_device", &line(100));
    check("blkio.throttle.write_iops_device", &line(200));
    finish(&b);
    drop(b);

    // Leaf weights were CFQ's: without it the files are missing, and the error names them.
    let leaf = Path::new("/sys/fs/cgroup/blkio/blkio.leaf_weight").exists();
    for (blkio, file) in [
        (json!({"leafWeight": 300}), "blkio.leaf_weight"),
        (
            json!({"weightDevice": [{"major": major, "minor": minor, "leafWeight": 300}]}),
            "blkio.leaf_weight_device",
        ),
    ] {
        if leaf {
            let (b, out) = probe(&rt, json!({"blockIO": blkio}), &[("blkio", file)], "");
            let want = if file.ends_with("device") {
                line(300)
            } else {
                "300".into()
            };
            assert_file(&b, &out, "blkio", file, &want);
            finish(&b);
        } else {
            let mut b = Bundle::new(&rt, &["true"]);
            b.edit(|c| c["linux"]["resources"]["blockIO"] = blkio);
            b.run().failed().says(file);
            b.assert_no_leftovers();
        }
    }
}

/// Loop devices 7:0, 7:1 and 7:2 of the host, if it has them: block devices that root can
/// open without any capability, as long as the device cgroup lets it.
fn three_loop_devices() -> bool {
    (0..3).all(|minor| Path::new(&format!("/sys/dev/block/7:{minor}")).exists())
}

#[test]
fn device_rules_reach_devices_list_and_are_enforced() {
    let Some(rt) = setup() else { return };
    if !three_loop_devices() {
        eprintln!("SKIPPED: no loop devices 7:0, 7:1 and 7:2 on this host");
        return;
    }
    // Deny all, then allow reading 7:0, which no default rule covers; 7:1 stays denied; 7:2
    // is a device of linux.devices, which must be available in the container.
    let edit = |c: &mut Value| {
        c["linux"]["resources"] = json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"}
        ]});
        c["linux"]["devices"] =
            json!([{"path": "/dev/cella-extra", "type": "b", "major": 7, "minor": 2}]);
    };
    // Opens without reading or writing anything (count=0, or a bare redirection): what fails
    // is the open, which the device cgroup checks.
    let extra = "mknod /tmp/allowed b 7 0 && mknod /tmp/denied b 7 1 && echo mknod=ok\n\
         echo allowed_read=$(dd if=/tmp/allowed of=/dev/null count=0 2>/tmp/e && echo ok || cat /tmp/e)\n\
         echo allowed_write=$( (: >/tmp/allowed) 2>&1)\n\
         echo denied_read=$(dd if=/tmp/denied of=/dev/null count=0 2>/tmp/e && echo ok || cat /tmp/e)\n\
         echo extra_read=$(dd if=/dev/cella-extra of=/dev/null count=0 2>/tmp/e && echo ok || cat /tmp/e)\n\
         echo null=$(echo x >/dev/null && head -c1 /dev/zero | wc -c)";
    let (b, out) = probe_config(&rt, edit, &[("devices", "devices.list")], extra);
    let host = outside(&b, "devices", "devices.list");
    let seen = out.stdout_now();
    assert_eq!(
        probed(&seen, "devices/devices.list"),
        host,
        "inside and outside differ"
    );
    let rules: Vec<&str> = host.split('|').collect();
    assert!(
        !rules.contains(&"a *:* rwm"),
        "everything is allowed: {rules:?}"
    );
    for want in [
        "b 7:0 r",
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 136:* rwm",
    ] {
        assert!(
            rules.contains(&want),
            "no {want:?} in devices.list: {rules:?}"
        );
    }
    if rt.is_cella() {
        assert!(rules.contains(&"b 7:2 rwm"), "{rules:?}");
        assert_eq!(probed(&seen, "extra_read"), "ok", "{seen}");
    } else {
        // runc 1.1 creates the node but adds no rule for it.
        assert!(
            probed(&seen, "extra_read").contains("Operation not permitted"),
            "{seen}"
        );
    }
    // The defaults allow mknod of any device; opening is allowed only as listed.
    assert_eq!(probed(&seen, "mknod"), "ok", "{seen}");
    assert_eq!(probed(&seen, "allowed_read"), "ok", "{seen}");
    assert!(
        probed(&seen, "allowed_write").contains("Operation not permitted"),
        "{seen}"
    );
    assert!(
        probed(&seen, "denied_read").contains("Operation not permitted"),
        "{seen}"
    );
    assert_eq!(probed(&seen, "null"), "1");
    finish(&b);
}

/// What cella and runc both refuse on this host: a controller with no v1 hierarchy here
/// (hugetlb is only in the cgroup2 mount, net_cls/net_prio are not mounted, no rdma), and
/// `unified` where limits go through v1. Where a hierarchy exists, the value is checked instead.
#[test]
fn fields_of_controllers_this_host_lacks_fail_naming_them() {
    let Some(rt) = setup() else { return };
    let cases = [
        (
            "hugetlb",
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}),
            ("hugetlb.2MB.limit_in_bytes", "4194304"),
        ),
        (
            "net_cls",
            json!({"network": {"classID": 1048577}}),
            ("net_cls.classid", "1048577"),
        ),
        (
            "net_prio",
            json!({"network": {"priorities": [{"name": "lo", "priority": 5}]}}),
            ("net_prio.ifpriomap", "lo 5"),
        ),
    ];
    for (controller, resources, (file, want)) in cases {
        if v1_mounted(controller) {
            let (b, out) = probe(&rt, resources, &[(controller, file)], "");
            assert_file(&b, &out, controller, file, want);
            finish(&b);
            continue;
        }
        let mut b = Bundle::new(&rt, &["true"]);
        b.edit(|c| c["linux"]["resources"] = resources);
        b.run().failed().says(controller);
        b.assert_no_leftovers();
    }
    // No RDMA device here (an rdma hierarchy would refuse the unknown device), and v2 keys on
    // a host whose limits are v1.
    let rdma = json!({"rdma": {"cella_test_dev": {"hcaHandles": 3, "hcaObjects": 100}}});
    let unified = json!({"unified": {"memory.high": "50M"}});
    for (resources, needle) in [(rdma, "rdma"), (unified, "unified")] {
        let mut b = Bundle::new(&rt, &["true"]);
        b.edit(|c| c["linux"]["resources"] = resources);
        b.run().failed().says(needle);
        b.assert_no_leftovers();
    }
}

/// Every cgroup directory of `pid`, in every hierarchy (v1 controllers, name=systemd and the
/// cgroup2 mount), from /proc/PID/cgroup and /proc/self/mountinfo.
fn all_cgroup_dirs(pid: i32) -> Vec<PathBuf> {
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut dirs = Vec::new();
    for line in cgroups.lines() {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let mount = mountinfo.lines().find_map(|l| {
            let (m, sup) = l.split_once(" - ")?;
            let s: Vec<&str> = sup.split(' ').collect();
            let opts = s.get(2)?;
            let fits = match controllers {
                "" => s[0] == "cgroup2",
                c => s[0] == "cgroup" && c.split(',').all(|c| opts.split(',').any(|o| o == c)),
            };
            let m: Vec<&str> = m.split(' ').collect();
            fits.then(|| (m[3].to_string(), m[4].to_string()))
        });
        if let Some((root, point)) = mount {
            let rel = path
                .strip_prefix(&root)
                .unwrap_or(path)
                .trim_start_matches('/');
            dirs.push(Path::new(&point).join(rel));
        }
    }
    dirs
}

#[test]
fn memory_limit_oom_kills_a_hog_and_delete_leaves_nothing() {
    let Some(rt) = setup() else { return };
    let memory = if host_has("memory", "memory.memsw.limit_in_bytes") {
        json!({"limit": 20971520, "swap": 20971520})
    } else {
        json!({"limit": 20971520})
    };
    let hog = ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"];

    // In the foreground: killed by the kernel, run exits 128+SIGKILL and removes the cgroups.
    let mut b = Bundle::new(&rt, &hog);
    b.edit(|c| c["linux"]["resources"]["memory"] = memory.clone());
    let out = b.run();
    assert_eq!(out.code(), Some(137), "{out:?}");
    b.assert_no_leftovers();

    // Created and started: the OOM kill shows in memory.oom_control, and delete of the
    // stopped container removes every cgroup directory.
    let mut b = Bundle::new(&rt, &hog);
    b.edit(|c| c["linux"]["resources"]["memory"] = memory);
    b.create().ok();
    let dirs = all_cgroup_dirs(b.pid());
    let memory_dir = dir(&b, "memory");
    b.start().ok();
    b.wait_status("stopped");
    let oom = joined(&fs::read_to_string(memory_dir.join("memory.oom_control")).unwrap());
    assert!(oom.contains("oom_kill 1"), "memory.oom_control: {oom}");
    b.delete().ok();
    for d in &dirs {
        assert!(
            !d.exists(),
            "{} is left after delete of an OOM-killed container",
            d.display()
        );
    }
    b.assert_no_leftovers();
}

#[test]
fn disabled_oom_killer_freezes_the_hog_and_delete_force_cleans_up() {
    let Some(rt) = setup() else { return };
    // The hog must fault its memory in from user space: a fault in the kernel (read(2) into
    // a fresh buffer, as dd does) fails with ENOMEM instead of waiting, and the hog exits.
    let hog = "BEGIN { s = \"x\"; while (1) s = s s }";
    let mut b = Bundle::new(&rt, &["awk", hog]);
    b.edit(|c| {
        c["linux"]["resources"]["memory"] =
            json!({"limit": 20971520, "swap": 20971520, "disableOOMKiller": true});
    });
    if !host_has("memory", "memory.memsw.limit_in_bytes") {
        b.edit(|c| {
            let memory = c["linux"]["resources"]["memory"].as_object_mut().unwrap();
            memory.remove("swap");
        });
    }
    b.create().ok();
    let dirs = all_cgroup_dirs(b.pid());
    b.start().ok();
    // The hog waits at the limit instead of dying.
    wait_for("the container to sit under OOM", SECS, || {
        outside(&b, "memory", "memory.oom_control")
            .contains("under_oom 1")
            .then_some(())
    });
    assert_eq!(b.status(), "running");
    let oom = outside(&b, "memory", "memory.oom_control");
    assert!(oom.contains("oom_kill 0"), "memory.oom_control: {oom}");
    b.delete_force().ok();
    for d in &dirs {
        assert!(!d.exists(), "{} is left after delete --force", d.display());
    }
    b.assert_no_leftovers();
}

#[test]
fn cpu_quota_throttles_a_spinner() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["sh", "-c", "while :; do :; done"]);
    b.edit(|c| c["linux"]["resources"]["cpu"] = json!({"quota": 10000, "period": 100000}));
    b.create().ok();
    b.start().ok();
    std::thread::sleep(Duration::from_millis(1200));
    let stat = outside(&b, "cpu", "cpu.stat");
    let field = |name: &str| -> u64 {
        stat.split('|')
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in cpu.stat: {stat}"))
    };
    assert!(field("nr_throttled ") > 0, "cpu.stat: {stat}");
    assert!(field("throttled_time ") > 0, "cpu.stat: {stat}");
    // 10% of one CPU: in 1.2 s the spinner cannot have used much more than 120 ms.
    let used = fs::read_to_string(dir(&b, "cpuacct").join("cpuacct.usage"))
        .ok()
        .and_then(|u| u.trim().parse::<u64>().ok());
    if let Some(ns) = used {
        assert!(ns < 400_000_000, "the spinner used {ns} ns of CPU in 1.2 s");
    }
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn delete_force_of_a_running_container_removes_it_from_every_hierarchy() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(
        &rt,
        &["sh", "-c", "sleep 100 & sleep 100 & echo ready; wait"],
    );
    b.edit(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 67108864});
        c["linux"]["resources"]["pids"] = json!({"limit": 20});
    });
    let out = b.create();
    out.ok();
    b.start().ok();
    out.wait_stdout("the container", SECS, |o| o.contains("ready"));
    let dirs = all_cgroup_dirs(b.pid());
    // Every v1 hierarchy, name=systemd and cgroup2 (hybrid): each named after the id.
    assert!(dirs.len() >= NEEDED.len(), "{dirs:?}");
    for d in &dirs {
        assert_eq!(d.file_name().unwrap().to_string_lossy(), b.id(), "{dirs:?}");
    }
    let procs = fs::read_to_string(dirs[0].join("cgroup.procs")).unwrap();
    assert_eq!(procs.lines().count(), 3, "cgroup.procs: {procs}");
    b.delete_force().ok();
    for d in &dirs {
        assert!(!d.exists(), "{} is left after delete --force", d.display());
    }
    b.assert_no_leftovers();
}
