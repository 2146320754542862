//! The container's filesystem: mounts, propagation, devices, masked and read-only paths,
//! sysctls, and symlinks in the rootfs that try to escape it.

use std::fs;
use std::time::Duration;

use integration_tests::{run_script, setup, value, Bundle, HostDir, Runtime};
use serde_json::json;

const SECS: Duration = Duration::from_secs(10);

/// The /proc/self/mountinfo line (from a probe's output) whose mount point is `point`.
fn mountinfo_line<'a>(out: &'a str, point: &str) -> &'a str {
    out.lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some(point))
        .unwrap_or_else(|| panic!("no mount at {point} in:\n{out}"))
}

fn add_mount(b: &mut Bundle, m: serde_json::Value) {
    b.edit(|c| c["mounts"].as_array_mut().unwrap().push(m));
}

#[test]
fn bind_mounts_ro_and_rw() {
    let Some(rt) = setup() else { return };
    let host = HostDir::new();
    fs::write(host.path().join("f"), "from-host").unwrap();
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    let src = host.path().to_str().unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/mnt/ro", "type": "bind", "source": src,
                             "options": ["bind", "ro"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/mnt/rw", "type": "bind", "source": src,
                             "options": ["rbind", "rw"]}),
    );
    let out = run_script(
        &b,
        "echo ro_read=$(cat /mnt/ro/f)\n\
         echo ro_write=$(touch /mnt/ro/x 2>&1 && echo ok)\n\
         echo from-container > /mnt/rw/y && echo rw_write=ok",
    );
    assert_eq!(value(&out, "ro_read"), "from-host");
    assert!(
        value(&out, "ro_write").contains("Read-only file system"),
        "{out}"
    );
    assert_eq!(value(&out, "rw_write"), "ok");
    assert!(!host.path().join("x").exists());
    assert_eq!(
        fs::read_to_string(host.path().join("y")).unwrap(),
        "from-container\n"
    );
    b.assert_no_leftovers();
}

#[test]
fn mount_flags_and_tmpfs_options_apply() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    add_mount(
        &mut b,
        json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=0710"]}),
    );
    let out = run_script(
        &b,
        "cat /proc/self/mountinfo\necho mode=$(stat -c %a /mnt/t)\n\
         cp /bin/busybox /mnt/t/bb 2>/dev/null; echo exec=$(/mnt/t/bb true 2>&1 && echo ran)",
    );
    let line = mountinfo_line(&out, "/mnt/t");
    let opts: Vec<&str> = line.split(' ').nth(5).unwrap().split(',').collect();
    for flag in ["nosuid", "nodev", "noexec"] {
        assert!(opts.contains(&flag), "{flag} missing: {line}");
    }
    let fields: Vec<&str> = line.split(' ').collect();
    let dash = fields.iter().position(|f| *f == "-").unwrap();
    assert_eq!(fields[dash + 1], "tmpfs", "{line}");
    assert!(fields[dash + 3].contains("size=1024k"), "{line}");
    assert_eq!(value(&out, "mode"), "710");
    // size=1m is too small for busybox (2 MB): the copy fails and so does the exec.
    assert!(!value(&out, "exec").contains("ran"), "{out}");
}

#[test]
fn noexec_prevents_execution() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    add_mount(
        &mut b,
        json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
        "options": ["noexec", "size=8m"]}),
    );
    let out = run_script(
        &b,
        "cp /bin/busybox /mnt/t/bb && echo copied=yes\necho exec=$(/mnt/t/bb true 2>&1 && echo ran)",
    );
    assert_eq!(value(&out, "copied"), "yes");
    assert!(value(&out, "exec").contains("Permission denied"), "{out}");
}

#[test]
fn rbind_carries_submounts_and_bind_does_not() {
    let Some(rt) = setup() else { return };
    let mut host = HostDir::new();
    let sub = host.path().join("sub");
    host.mount_tmpfs(&sub);
    fs::write(sub.join("in-tmpfs"), "yes").unwrap();
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    let src = host.path().to_str().unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/mnt/r", "type": "bind", "source": src,
                             "options": ["rbind"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/mnt/b", "type": "bind", "source": src,
                             "options": ["bind"]}),
    );
    let out = run_script(
        &b,
        "echo rbind=$(cat /mnt/r/sub/in-tmpfs 2>/dev/null)\necho bind=$(ls /mnt/b/sub | wc -l)",
    );
    assert_eq!(value(&out, "rbind"), "yes");
    assert_eq!(value(&out, "bind"), "0");
    drop(host);
    b.assert_no_leftovers();
}

/// Starts a container with a bind of a shared host dir at /mnt/h (with `options`, and
/// `rootfs_propagation` if given); the host then mounts a tmpfs at sub/ and the container
/// reports whether it sees it.
fn sees_host_mount(rt: &Runtime, options: &[&str], rootfs_propagation: Option<&str>) -> bool {
    let mut host = HostDir::new();
    fs::create_dir(host.path().join("sub")).unwrap();
    host.make_shared();
    let mut b = Bundle::new(rt, &["/probe.sh"]);
    let src = host.path().to_str().unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/mnt/h", "type": "bind", "source": src,
                             "options": options}),
    );
    if let Some(p) = rootfs_propagation {
        b.edit(|c| c["linux"]["rootfsPropagation"] = p.into());
    }
    b.script(
        "/probe.sh",
        "echo ready\nwhile [ ! -e /tmp/go ]; do sleep 0.02; done\n\
         grep -c ' /mnt/h/sub ' /proc/self/mountinfo",
    );
    let out = b.run_with(&["-d"]);
    out.ok();
    out.wait_stdout("ready", SECS, |o| o.contains("ready"));
    host.mount_tmpfs(&host.path().join("sub"));
    fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    b.wait_status("stopped");
    let seen = out.stdout_now().lines().last() == Some("1");
    b.delete().ok();
    drop(host);
    b.assert_no_leftovers();
    seen
}

#[test]
fn bind_propagation_rslave_receives_host_mounts_and_rprivate_does_not() {
    let Some(rt) = setup() else { return };
    assert!(
        sees_host_mount(&rt, &["rbind", "rslave"], None),
        "rslave missed a host mount"
    );
    assert!(
        sees_host_mount(&rt, &["rbind", "rshared"], None),
        "rshared missed a host mount"
    );
    assert!(
        !sees_host_mount(&rt, &["rbind", "rprivate"], None),
        "rprivate got a host mount"
    );
}

/// rootfsPropagation is applied to the whole mount tree before the container's mounts, so it
/// is the propagation of bind mounts that name none (runc's reading of the spec). "private"
/// changes only the root mount, "rprivate" the whole tree.
#[test]
fn rootfs_propagation_is_the_default_for_bind_mounts() {
    let Some(rt) = setup() else { return };
    assert!(
        sees_host_mount(&rt, &["rbind"], Some("slave")),
        "slave missed a host mount"
    );
    assert!(
        sees_host_mount(&rt, &["rbind"], None),
        "the default (rslave) missed a host mount"
    );
    assert!(
        !sees_host_mount(&rt, &["rbind"], Some("rprivate")),
        "rprivate got a host mount"
    );
}

#[test]
fn bind_propagation_rshared_sends_container_mounts_to_the_host() {
    let Some(rt) = setup() else { return };
    let mut host = HostDir::new();
    fs::create_dir(host.path().join("sub")).unwrap();
    host.make_shared();
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| {
        // A private or slave root would stop the container's mounts from going back.
        c["linux"]["rootfsPropagation"] = "shared".into();
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push("CAP_SYS_ADMIN".into());
        }
    });
    let src = host.path().to_str().unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/mnt/h", "type": "bind", "source": src,
                             "options": ["rbind", "rshared"]}),
    );
    run_script(
        &b,
        "mount -t tmpfs -o size=1m tmpfs /mnt/h/sub && echo mounted",
    );
    let sub = host.path().join("sub");
    host.adopt_mount(&sub);
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let sub_str = sub.to_str().unwrap();
    assert!(
        mountinfo
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(sub_str)),
        "the container's mount did not reach the host"
    );
}

#[test]
fn readonly_root_refuses_writes_but_dev_and_tmpfs_mounts_stay_writable() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| c["root"]["readonly"] = true.into());
    let out = run_script(
        &b,
        "echo root=$(touch /x 2>&1 && echo ok)\necho shm=$(touch /dev/shm/x 2>&1 && echo ok)\n\
         grep ' / ' /proc/self/mountinfo",
    );
    assert!(
        value(&out, "root").contains("Read-only file system"),
        "{out}"
    );
    assert_eq!(value(&out, "shm"), "ok");
    let line = mountinfo_line(&out, "/");
    assert!(
        line.split(' ')
            .nth(5)
            .unwrap()
            .split(',')
            .any(|o| o == "ro"),
        "{line}"
    );
    assert!(!b.rootfs().join("x").exists());
}

#[test]
fn no_pivot_still_jails_the_process_in_the_rootfs() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["/probe.sh"]);
    fs::write(b.rootfs().join("marker"), "inside").unwrap();
    b.script(
        "/probe.sh",
        "echo marker=$(cat /marker)\necho entries=$(ls / | wc -l)",
    );
    let out = b.run_with(&["--no-pivot"]);
    out.ok();
    assert_eq!(value(&out.stdout, "marker"), "inside");
    let entries = fs::read_dir(b.rootfs()).unwrap().count();
    assert_eq!(value(&out.stdout, "entries"), entries.to_string());
    b.assert_no_leftovers();
}

#[test]
fn default_devices_exist_with_the_right_numbers() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["/probe.sh"]);
    let out = run_script(
        &b,
        "for d in null zero full random urandom tty; do \
         echo $d=$(stat -c '%F %t:%T %a' /dev/$d); done\n\
         for l in fd stdin stdout stderr ptmx; do echo $l=$(readlink /dev/$l); done\n\
         for m in /dev/pts /dev/shm /dev/mqueue; do \
         echo $m=$(grep \" $m \" /proc/self/mountinfo | sed 's/.* - //' | cut -d' ' -f1); done\n\
         echo hello > /dev/null && echo write_null=ok\n\
         echo zeros=$(head -c 4 /dev/zero | od -An -tx1 | tr -d ' ')",
    );
    for (dev, nums) in [
        ("null", "1:3"),
        ("zero", "1:5"),
        ("full", "1:7"),
        ("random", "1:8"),
        ("urandom", "1:9"),
        ("tty", "5:0"),
    ] {
        assert_eq!(
            value(&out, dev),
            format!("character special file {nums} 666"),
            "{dev}"
        );
    }
    assert_eq!(value(&out, "fd"), "/proc/self/fd");
    assert_eq!(value(&out, "stdin"), "/proc/self/fd/0");
    assert_eq!(value(&out, "stdout"), "/proc/self/fd/1");
    assert_eq!(value(&out, "stderr"), "/proc/self/fd/2");
    assert_eq!(value(&out, "ptmx"), "pts/ptmx");
    assert_eq!(value(&out, "/dev/pts"), "devpts");
    assert_eq!(value(&out, "/dev/shm"), "tmpfs");
    assert_eq!(value(&out, "/dev/mqueue"), "mqueue");
    assert_eq!(value(&out, "write_null"), "ok");
    assert_eq!(value(&out, "zeros"), "00000000");
}

#[test]
fn linux_devices_are_created_with_mode_and_owner() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/mynull", "type": "c", "major": 1,
            "minor": 3, "fileMode": 0o640, "uid": 1000, "gid": 1001}]);
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}));
    });
    let out = run_script(
        &b,
        "echo dev=$(stat -c '%F %t:%T %a %u:%g' /dev/mynull)\n\
         echo x > /dev/mynull && echo write=ok",
    );
    assert_eq!(
        value(&out, "dev"),
        "character special file 1:3 640 1000:1001"
    );
    assert_eq!(value(&out, "write"), "ok");
}

#[test]
fn masked_paths_read_empty_and_readonly_paths_refuse_writes() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["/probe.sh"]);
    let out = run_script(
        &b,
        "echo timer_list=$(wc -c < /proc/timer_list)\n\
         echo keys=$(cat /proc/keys | wc -c)\n\
         echo firmware=$(ls -A /sys/firmware | wc -l)\n\
         echo acpi=$(ls -A /proc/acpi 2>/dev/null | wc -l)\n\
         echo sys_write=$(sh -c 'echo x > /proc/sys/kernel/hostname' 2>&1 && echo ok)\n\
         echo proc_fs=$(grep ' /proc/fs ' /proc/self/mountinfo | cut -d' ' -f6)\n\
         echo proc_bus=$(touch /proc/bus/x 2>&1 && echo ok)\n\
         echo hostname=$(hostname)",
    );
    assert_eq!(value(&out, "timer_list"), "0");
    assert_eq!(value(&out, "keys"), "0");
    assert_eq!(value(&out, "firmware"), "0");
    assert_eq!(value(&out, "acpi"), "0");
    assert!(
        value(&out, "sys_write").contains("Read-only file system"),
        "{out}"
    );
    assert!(
        value(&out, "proc_fs").split(',').any(|o| o == "ro"),
        "{out}"
    );
    assert!(!value(&out, "proc_bus").ends_with("ok"), "{out}");
    assert_eq!(value(&out, "hostname"), "cella-test");
    // The host's masked files are untouched.
    assert!(!fs::read_to_string("/proc/timer_list").unwrap().is_empty());
}

#[test]
fn sysctls_apply_inside_the_namespaces_only() {
    let Some(rt) = setup() else { return };
    let host_forward = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let host_shmmax = fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    let forward = if host_forward.trim() == "1" { "0" } else { "1" };
    b.edit(|c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": forward, "kernel.shmmax": "123456789"})
    });
    let out = run_script(
        &b,
        "echo forward=$(cat /proc/sys/net/ipv4/ip_forward)\n\
         echo shmmax=$(cat /proc/sys/kernel/shmmax)",
    );
    assert_eq!(value(&out, "forward"), forward);
    assert_eq!(value(&out, "shmmax"), "123456789");
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_forward
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(),
        host_shmmax
    );
}

#[test]
fn symlinks_in_the_rootfs_cannot_send_a_mount_outside() {
    let Some(rt) = setup() else { return };
    let outside = HostDir::new();
    fs::write(outside.path().join("precious"), "host data").unwrap();
    let target = outside.path().to_str().unwrap().to_string();
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    std::os::unix::fs::symlink(&target, b.rootfs().join("abs")).unwrap();
    let up = "../".repeat(12);
    std::os::unix::fs::symlink(
        format!("{up}{}", target.trim_start_matches('/')),
        b.rootfs().join("rel"),
    )
    .unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/abs", "type": "tmpfs", "source": "tmpfs",
                             "options": ["size=1m"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/rel/sub", "type": "tmpfs", "source": "tmpfs",
                             "options": ["size=1m"]}),
    );
    let out = run_script(
        &b,
        &format!(
            "echo mounted=$(grep -c ' {target} \\| {target}/sub ' /proc/self/mountinfo)\n\
                  echo precious=$(cat {target}/precious 2>/dev/null || echo absent)"
        ),
    );
    // Both mounts land in the rootfs at the symlinks' targets resolved inside it.
    assert_eq!(value(&out, "mounted"), "2", "{out}");
    assert_eq!(value(&out, "precious"), "absent");
    assert!(b.rootfs().join(target.trim_start_matches('/')).is_dir());
    let host_entries: Vec<_> = fs::read_dir(outside.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(host_entries, ["precious"], "the host directory changed");
    assert_eq!(
        fs::read_to_string(outside.path().join("precious")).unwrap(),
        "host data"
    );
    b.assert_no_leftovers();
}
