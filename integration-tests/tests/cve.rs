//! Attacks from the runtime CVEs of the last years, one test per class. Each attack works
//! against a naive runtime (the comment of each test says why) and the test asserts that it
//! did not work: the host binary, host files and host mounts are unchanged.
//!
//! Attacks that need more than busybox (O_PATH descriptors, renameat2) run the `cve-probe`
//! program of this package in the container, copied in with its shared libraries.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use integration_tests::attack::{host_mounts_at_or_under, snapshot, RuntimeCopy, UnmountAll};
use integration_tests::{hostbin, setup, setup_with, value, Bundle, HostDir, Output, Req, Runtime};
use serde_json::json;

const SECS: Duration = Duration::from_secs(10);
const PROBE: &str = env!("CARGO_BIN_EXE_cve-probe");

fn add_mount(b: &mut Bundle, m: serde_json::Value) {
    b.edit(|c| c["mounts"].as_array_mut().unwrap().push(m));
}

fn add_user_namespace(b: &mut Bundle) {
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    });
}

// ---------------------------------------------------------------------------------------
// CVE-2019-5736: overwriting the host's runtime binary through /proc/PID/exe.
// ---------------------------------------------------------------------------------------

/// Creates a container (init waiting for `start`, still running the runtime's code), execs
/// the probe into it with `exec_flags`, lets it take hold of /proc/1/exe (the runtime binary
/// of the host, for a runtime that does not protect it), starts the container (init execs
/// `sleep`, so nothing executes the binary any more and ETXTBSY is gone) and lets the probe
/// reopen what it holds for writing. Returns the probe's report and whether the binary is
/// intact.
fn attack_created_init(rt: &Runtime, exec_flags: &[&str], probe_flags: &[&str]) -> (String, bool) {
    let copy = RuntimeCopy::new(rt);
    let b = Bundle::new(&copy.rt, &["sleep", "1000"]);
    hostbin::install(&b.rootfs(), Path::new(PROBE), "/cve-probe");
    b.create().ok();
    let mut args = vec!["exec", "-d"];
    args.extend_from_slice(exec_flags);
    args.extend([b.id(), "/cve-probe", "exe", "--pid", "1", "--go", "/go"]);
    args.extend_from_slice(probe_flags);
    let probe = copy.rt.run(&args);
    probe.ok();
    probe.wait_stdout("the probe's first attempts", SECS, |o| {
        o.contains("holding=")
    });
    b.start().ok();
    fs::write(b.rootfs().join("go"), "").unwrap();
    probe.wait_stdout("the probe's write attempt", SECS, |o| o.contains("reopen="));
    let report = probe.stdout_now();
    let intact = copy.intact();
    b.delete_force().ok();
    (report, intact)
}

fn assert_binary_kept(report: &str, intact: bool) {
    eprintln!("{report}");
    assert_eq!(value(report, "victim"), "1", "{report}");
    assert_ne!(
        value(report, "reopen"),
        "ok",
        "the binary was written:\n{report}"
    );
    assert!(intact, "the runtime binary changed:\n{report}");
}

/// A naive runtime's init is a dumpable process running the host binary while it waits in
/// "created": any process of the container (same uid, no capability needed) opens
/// /proc/1/exe, and once `start` has exec'd the user program, reopens it for writing through
/// /proc/self/fd/N and overwrites the runtime on the host.
#[test]
fn cve_2019_5736_created_init_exe_is_out_of_reach() {
    let Some(rt) = setup_with(&[Req::HostTool("ldd")]) else {
        return;
    };
    let (report, intact) = attack_created_init(&rt, &[], &[]);
    assert_binary_kept(&report, intact);
}

/// The same with CAP_SYS_PTRACE over the host's user namespace (a container without a user
/// namespace given that capability): being non-dumpable does not stop it, so the binary
/// itself must not be writable through /proc/1/exe.
#[test]
fn cve_2019_5736_created_init_exe_resists_cap_sys_ptrace() {
    let Some(rt) = setup_with(&[Req::HostTool("ldd")]) else {
        return;
    };
    let (report, intact) = attack_created_init(&rt, &["--cap", "CAP_SYS_PTRACE"], &[]);
    assert_binary_kept(&report, intact);
}

/// With CAP_SYS_ADMIN too, the attacker also tries to make the mount behind /proc/1/exe
/// writable (mount_setattr) or to clone it and make the clone writable (open_tree). A
/// runtime that only bind-mounts its binary read-only somewhere the container can reach
/// loses there (runc dropped such a scheme for that reason). A container with CAP_SYS_ADMIN
/// and no user namespace has other ways out; this checks only that this one is closed.
#[test]
fn cve_2019_5736_created_init_exe_resists_cap_sys_admin() {
    let Some(rt) = setup_with(&[Req::HostTool("ldd")]) else {
        return;
    };
    let caps = ["--cap", "CAP_SYS_PTRACE", "--cap", "CAP_SYS_ADMIN"];
    let (report, intact) = attack_created_init(&rt, &caps, &["--privileged"]);
    assert_binary_kept(&report, intact);
    for key in ["remount_rw", "clone_rw", "clone_write"] {
        if let Some(line) = report.lines().find(|l| l.starts_with(&format!("{key}="))) {
            assert!(!line.ends_with("=ok"), "{line}\n{report}");
        }
    }
}

/// In a container with its own user namespace, CAP_SYS_PTRACE is only the namespace's: a
/// waiting init (whose memory belongs to the host's user namespace) stays out of reach, and
/// the container's root is an unprivileged uid on the host anyway. The attacker is the init
/// of a first container (user namespace, CAP_SYS_PTRACE); a second container joins its pid
/// namespace, so its init, waiting in "created", shows in the attacker's /proc.
#[test]
fn cve_2019_5736_created_init_exe_is_out_of_reach_in_a_user_namespace() {
    let Some(rt) = setup_with(&[Req::HostTool("ldd"), Req::UserNs]) else {
        return;
    };
    let copy = RuntimeCopy::new(&rt);
    let mut attacker = Bundle::new(&copy.rt, &["/cve-probe", "exe", "--other", "--go", "/go"]);
    add_user_namespace(&mut attacker);
    attacker.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            let caps = c["process"]["capabilities"][set].as_array_mut().unwrap();
            caps.push(json!("CAP_SYS_PTRACE"));
        }
    });
    hostbin::install(&attacker.rootfs(), Path::new(PROBE), "/cve-probe");
    let probe = attacker.run_with(&["-d"]);
    probe.ok();
    let host_pid = attacker.pid();
    let mut victim = Bundle::new(&copy.rt, &["sleep", "1000"]);
    victim.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
        ns.push(json!({"type": "pid", "path": format!("/proc/{host_pid}/ns/pid")}));
    });
    victim.create().ok();
    probe.wait_stdout("the probe's first attempts", SECS, |o| {
        o.contains("holding=")
    });
    victim.start().ok();
    fs::write(attacker.rootfs().join("go"), "").unwrap();
    probe.wait_stdout("the probe's write attempt", SECS, |o| o.contains("reopen="));
    let report = probe.stdout_now();
    let intact = copy.intact();
    eprintln!("{report}");
    assert_ne!(value(&report, "victim"), "none", "{report}");
    assert_ne!(
        value(&report, "reopen"),
        "ok",
        "the binary was written:\n{report}"
    );
    assert!(intact, "the runtime binary changed:\n{report}");
}

/// The published attack: the image has a program that is a link to /proc/self/exe (or a
/// `#!/proc/self/exe` script). When the runtime execs it in the container (`exec`, or the
/// entrypoint), the kernel resolves /proc/self/exe in the process doing the exec, which for
/// a naive runtime is the runtime itself: the host's binary now runs in the container,
/// dumpable, and any container process can open /proc/PID/exe and write to it once it exited.
/// The image carries the loader and libraries the runtime needs, as a distribution image does.
/// The victim runtime waits opening its log (a fifo) until the attacker holds its binary.
#[test]
fn cve_2019_5736_runtime_run_in_the_container_cannot_be_overwritten() {
    let Some(rt) = setup_with(&[Req::HostTool("ldd")]) else {
        return;
    };
    let copy = RuntimeCopy::new(&rt);
    let b = Bundle::new(&copy.rt, &["sleep", "1000"]);
    let rootfs = b.rootfs();
    hostbin::install(&rootfs, Path::new(PROBE), "/cve-probe");
    hostbin::install_libraries(&rootfs, copy.rt.bin());
    symlink("/proc/self/exe", rootfs.join("evil")).unwrap();
    nix::unistd::mkfifo(
        &rootfs.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o666),
    )
    .unwrap();
    b.run_with(&["-d"]).ok();
    let id = b.id();
    let probe = copy.rt.run(&[
        "exec",
        "-d",
        id,
        "/cve-probe",
        "exe",
        "--argv0",
        "/evil",
        "--fifo",
        "/fifo",
    ]);
    probe.ok();
    let victim = copy
        .rt
        .call(&["exec", id, "/evil", "--log", "/fifo", "state", "nothing"])
        .timeout(Duration::from_secs(20))
        .output();
    probe.wait_stdout("the probe's write attempt", Duration::from_secs(20), |o| {
        o.contains("reopen=") || o.contains("victim=none")
    });
    let report = probe.stdout_now();
    let intact = copy.intact();
    eprintln!("{report}");
    assert_ne!(value(&report, "victim"), "none", "{report}\n{victim:?}");
    // The attacker got hold of the binary the victim ran: the attack really happened.
    assert_eq!(value(&report, "read"), "ok", "{report}");
    assert_ne!(
        value(&report, "reopen"),
        "ok",
        "the binary was written:\n{report}"
    );
    assert!(intact, "the runtime binary changed:\n{report}");
}

// ---------------------------------------------------------------------------------------
// CVE-2024-21626: a runtime descriptor leaked into the container, reached through the cwd.
// ---------------------------------------------------------------------------------------

/// A file on the host, and the relative path that reaches it from any host directory (enough
/// `..` to climb to the host's root): read from a cwd outside the rootfs, it leaks.
fn host_sentinel(host: &HostDir) -> String {
    fs::write(host.path().join("sentinel"), "host secret").unwrap();
    let abs = host.path().join("sentinel");
    format!(
        "{}{}",
        "../".repeat(30),
        abs.to_str().unwrap().trim_start_matches('/')
    )
}

/// Runs the container with process.cwd /proc/self/fd/N for every N from 3 to 20. Returns,
/// for each N the container started with, its cwd (`pwd -P`: empty when getcwd fails, i.e.
/// the cwd is not under the container's root) and what reading the host sentinel gave.
fn cwd_through_proc_self_fd(rt: &Runtime, sentinel: &str) -> Vec<(i32, String, String)> {
    let mut b = Bundle::new(rt, &["/probe.sh"]);
    b.script(
        "/probe.sh",
        &format!("echo cwd=$(pwd -P)\necho leak=$(cat {sentinel} 2>/dev/null || echo none)"),
    );
    let mut started = Vec::new();
    for n in 3..=20 {
        b.edit(|c| c["process"]["cwd"] = format!("/proc/self/fd/{n}").into());
        let out = b.run();
        if b.rt().root().join(b.id()).exists() {
            b.delete_force().ok();
        }
        if out.success() {
            let (cwd, leak) = (value(&out.stdout, "cwd"), value(&out.stdout, "leak"));
            started.push((n, cwd.to_string(), leak.to_string()));
        }
    }
    b.assert_no_leftovers();
    started
}

/// A naive runtime keeps a host directory open (runc leaked the cgroup directory as fd 7 or
/// 8) while it chdirs to `process.cwd`: with cwd /proc/self/fd/N the process starts in that
/// host directory, outside the rootfs, and `..` climbs to the host's root, where it reads
/// host files.
#[test]
fn cve_2024_21626_cwd_through_proc_self_fd_reads_no_host_file() {
    let Some(rt) = setup() else { return };
    let host = HostDir::new();
    let leaks: Vec<_> = cwd_through_proc_self_fd(&rt, &host_sentinel(&host))
        .into_iter()
        .filter(|(_, _, leak)| leak != "none")
        .collect();
    assert!(leaks.is_empty(), "host file read from the cwd: {leaks:?}");
}

/// The same attack, stricter: every N must fail to start or start inside the rootfs, not in
/// some other directory the runtime had open.
#[test]
fn cve_2024_21626_cwd_through_proc_self_fd_stays_in_the_rootfs() {
    let Some(rt) = setup() else { return };
    let host = HostDir::new();
    let outside: Vec<_> = cwd_through_proc_self_fd(&rt, &host_sentinel(&host))
        .into_iter()
        .filter(|(_, cwd, leak)| leak != "none" || !cwd.starts_with('/'))
        .collect();
    assert!(
        outside.is_empty(),
        "started outside the rootfs: {outside:?}"
    );
}

/// The same through `exec --cwd`: the exec'd process is set up by the runtime too.
#[test]
fn cve_2024_21626_exec_cwd_through_proc_self_fd_stays_in_the_rootfs() {
    let Some(rt) = setup() else { return };
    let host = HostDir::new();
    let sentinel = host_sentinel(&host);
    let b = Bundle::new(&rt, &["sleep", "1000"]);
    b.run_with(&["-d"]).ok();
    let script =
        format!("echo cwd=$(pwd -P); echo leak=$(cat {sentinel} 2>/dev/null || echo none)");
    let mut escaped = Vec::new();
    for n in 3..=20 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = rt.run(&["exec", "--cwd", &cwd, b.id(), "sh", "-c", &script]);
        if !out.success() {
            continue;
        }
        let (cwd, leak) = (value(&out.stdout, "cwd"), value(&out.stdout, "leak"));
        if leak != "none" || !cwd.starts_with('/') {
            escaped.push(format!("fd {n}: cwd {cwd}, read {leak}"));
        }
    }
    assert!(
        escaped.is_empty(),
        "left the rootfs:\n{}",
        escaped.join("\n")
    );
}

/// The descriptors of a process, as (number, link target).
fn open_fds(pid: i32) -> Vec<(i32, String)> {
    let mut fds: Vec<(i32, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse().ok()?;
            let target = fs::read_link(e.path()).ok()?;
            Some((n, target.to_string_lossy().into_owned()))
        })
        .collect();
    fds.sort();
    fds
}

/// A naive runtime execs the container's process with whatever descriptors it inherited or
/// opened without O_CLOEXEC: a host directory at fd 5 is then a way out (`fchdir`, openat
/// "../.."). Only stdio and the `--preserve-fds` ones may reach the container, for `run` and
/// for `exec`.
#[test]
fn cve_2024_21626_runtime_descriptors_do_not_reach_the_container() {
    let Some(rt) = setup() else { return };
    let host = HostDir::new();
    fs::write(host.path().join("secret"), "host secret").unwrap();
    let preserved = host.path().join("preserved");
    fs::write(&preserved, "").unwrap();
    let fds = || {
        [
            (3, fs::File::open(&preserved).unwrap()),
            (5, fs::File::open(host.path()).unwrap()),
            (7, fs::File::open(host.path().join("secret")).unwrap()),
        ]
    };
    let b = Bundle::new(&rt, &["sleep", "1000"]);
    let mut run = b.call("run", &["-d", "--preserve-fds", "1"]);
    for (n, f) in fds() {
        run = run.fd(n, f.into());
    }
    run.output().ok();
    let check = |pid: i32, what: &str| {
        let found = open_fds(pid);
        let numbers: Vec<i32> = found.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [0, 1, 2, 3], "{what}: {found:?}");
        assert_eq!(found[3].1, preserved.to_str().unwrap(), "{what}: {found:?}");
    };
    check(b.pid(), "init");
    let pid_file = rt.scratch().join("exec.pid");
    let pid_arg = pid_file.to_string_lossy().into_owned();
    let mut exec = rt.call(&[
        "exec",
        "-d",
        "--preserve-fds",
        "1",
        "--pid-file",
        &pid_arg,
        b.id(),
        "sleep",
        "1000",
    ]);
    for (n, f) in fds() {
        exec = exec.fd(n, f.into());
    }
    exec.output().ok();
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    check(pid, "exec");
}

// ---------------------------------------------------------------------------------------
// CVE-2021-30465: a mount destination swapped for a symlink between check and mount.
// ---------------------------------------------------------------------------------------

/// Two containers share a volume. The first exchanges, in a tight loop, a directory `dst` of
/// the volume with a symlink `link` to a host directory. The second mounts the volume at
/// /vol and a tmpfs at /vol/dst. A naive runtime checks /vol/dst (or not at all) and then
/// mounts on the path string: when the symlink is in place at that moment, the kernel
/// follows it and the tmpfs lands on the host directory. The target is a shared mount and
/// the second container's propagation is "shared", so such a mount shows on the host.
#[test]
fn cve_2021_30465_swapped_mount_destination_stays_in_the_rootfs() {
    let Some(rt) = setup_with(&[Req::HostTool("ldd")]) else {
        return;
    };
    let mut target = HostDir::new();
    target.make_shared();
    let _unmount = UnmountAll(target.path().to_path_buf());
    let vol = HostDir::new();
    fs::set_permissions(vol.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir(vol.path().join("dst")).unwrap();
    symlink(target.path(), vol.path().join("link")).unwrap();
    let src = vol.path().to_str().unwrap();

    let mut attacker = Bundle::new(
        &rt,
        &["/cve-probe", "swap", "/vol/dst", "/vol/link", "/vol/stop"],
    );
    hostbin::install(&attacker.rootfs(), Path::new(PROBE), "/cve-probe");
    add_mount(
        &mut attacker,
        json!({"destination": "/vol", "type": "bind", "source": src, "options": ["rbind"]}),
    );
    let swapper = attacker.run_with(&["-d"]);
    swapper.ok();
    integration_tests::wait_for("the swapping to start", SECS, || {
        fs::symlink_metadata(vol.path().join("dst"))
            .is_ok_and(|m| m.file_type().is_symlink())
            .then_some(())
    });

    let mut victim = Bundle::new(&rt, &["true"]);
    victim.edit(|c| c["linux"]["rootfsPropagation"] = "shared".into());
    add_mount(
        &mut victim,
        json!({"destination": "/vol", "type": "bind", "source": src,
               "options": ["rbind", "rprivate"]}),
    );
    add_mount(
        &mut victim,
        json!({"destination": "/vol/dst", "type": "tmpfs", "source": "tmpfs",
               "options": ["size=1m"]}),
    );
    let start = Instant::now();
    let (mut creates, mut created) = (0, 0);
    let mut landed = Vec::new();
    while creates < 50 && start.elapsed() < Duration::from_secs(12) {
        creates += 1;
        if victim.create().success() {
            created += 1;
        }
        if victim.rt().root().join(victim.id()).exists() {
            victim.delete_force().ok();
        }
        landed = host_mounts_at_or_under(target.path());
        // The target's own bind onto itself (make_shared) is the one expected entry.
        if landed.len() > 1 {
            break;
        }
    }
    fs::write(vol.path().join("stop"), "").unwrap();
    attacker.wait_status("stopped");
    let swaps = swapper.stdout_now();
    assert!(
        value(&swaps, "swaps").parse::<u64>().unwrap() > 0,
        "the attacker did not swap: {swaps}"
    );
    assert_eq!(
        landed.len(),
        1,
        "a mount landed on the host directory after {creates} creates: {landed:?}"
    );
    let entries: Vec<_> = fs::read_dir(target.path()).unwrap().collect();
    assert!(
        entries.is_empty(),
        "the host directory changed: {entries:?}"
    );
    eprintln!("{creates} creates ({created} succeeded) against {swaps}");
    victim.assert_no_leftovers();
}

// ---------------------------------------------------------------------------------------
// CVE-2019-16884, CVE-2019-19921: a fake /proc taking the runtime's writes.
// ---------------------------------------------------------------------------------------

/// Writes fake procfs files under `dir` (a rootfs-relative or host directory): the sysctl the
/// tests set, kernel.shmmax, and the LSM attribute files a runtime writes labels to.
fn fake_proc_files(dir: &Path) -> Vec<PathBuf> {
    [
        "sys/kernel/shmmax",
        "self/attr/exec",
        "thread-self/attr/exec",
    ]
    .iter()
    .map(|rel| {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, "fake\n").unwrap();
        p
    })
    .collect()
}

fn assert_fakes_untouched(fakes: &[PathBuf], out: &Output) {
    for f in fakes {
        assert_eq!(
            fs::read_to_string(f).unwrap(),
            "fake\n",
            "{} was written\n{out:?}",
            f.display()
        );
    }
}

fn with_shmmax(b: &mut Bundle) {
    b.edit(|c| c["linux"]["sysctl"] = json!({"kernel.shmmax": "123456789"}));
}

/// The image's /proc is a symlink to a directory of fake files and the config mounts no
/// procfs (or mounts it where the symlink points): a naive runtime writes its sysctls
/// through /proc/sys/... and so into the fake files, and the container's kernel settings
/// silently stay the defaults (an LSM label written the same way would be lost: the
/// AppArmor bypass of CVE-2019-16884).
#[test]
fn fake_proc_symlink_gets_no_runtime_writes() {
    let Some(rt) = setup() else { return };
    for mount_proc in [false, true] {
        let mut b = Bundle::new(&rt, &["/probe.sh"]);
        let rootfs = b.rootfs();
        fs::remove_dir(rootfs.join("proc")).unwrap();
        let fakes = fake_proc_files(&rootfs.join("fakeproc"));
        symlink("fakeproc", rootfs.join("proc")).unwrap();
        with_shmmax(&mut b);
        if !mount_proc {
            b.edit(|c| {
                let mounts = c["mounts"].as_array_mut().unwrap();
                mounts.retain(|m| m["destination"] != "/proc");
                c["linux"]["maskedPaths"] = json!([]);
                c["linux"]["readonlyPaths"] = json!([]);
            });
        }
        b.script("/probe.sh", "echo shmmax=$(cat /proc/sys/kernel/shmmax)");
        let out = b.run();
        eprintln!(
            "proc mounted: {mount_proc}: started: {}; {}{}",
            out.success(),
            out.stdout,
            out.stderr
        );
        if rt.is_cella() || mount_proc {
            assert_fakes_untouched(&fakes, &out);
            if out.success() {
                // Mounted over the fake directory: the real procfs got the value.
                assert_eq!(value(&out.stdout, "shmmax"), "123456789");
            }
        } else {
            // runc 1.1.5 writes sysctls through the path without checking what it is
            // (RUNC-DIFFERENCES.md): proof that the attack works.
            assert_eq!(fs::read_to_string(&fakes[0]).unwrap(), "123456789");
        }
        b.assert_no_leftovers();
    }
}

/// A volume mounted over /proc (or /proc/sys) after the procfs, holding fake files: a naive
/// runtime writes the sysctl into the volume. runc refuses such mounts; any runtime may, but
/// the fake files must stay untouched.
#[test]
fn volume_over_proc_gets_no_runtime_writes() {
    let Some(rt) = setup() else { return };
    for dest in ["/proc", "/proc/sys"] {
        let host = HostDir::new();
        let fake_root = if dest == "/proc" {
            host.path().to_path_buf()
        } else {
            host.path().join("sys")
        };
        let fakes = fake_proc_files(host.path());
        let mut b = Bundle::new(&rt, &["true"]);
        with_shmmax(&mut b);
        add_mount(
            &mut b,
            json!({"destination": dest, "type": "bind",
                   "source": fake_root.to_str().unwrap(), "options": ["rbind"]}),
        );
        let out = b.run();
        eprintln!("{dest}: started: {}; {}", out.success(), out.stderr);
        assert_fakes_untouched(&fakes, &out);
        drop(b);
    }
}

// ---------------------------------------------------------------------------------------
// CVE-2025-31133, CVE-2025-52565, CVE-2025-52881: runtime mounts and writes redirected
// inside the container to a writable copy of a protected file.
// ---------------------------------------------------------------------------------------

/// The config with no tmpfs at /dev: the image's own /dev is used (as with `--no-dev`-style
/// engines, or a racing container sharing /dev).
fn without_dev_tmpfs(b: &mut Bundle) {
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/dev");
    });
}

/// The image's /dev/null is a symlink to a sysctl file. A naive runtime masks files by
/// bind-mounting "/dev/null" by path, following the link: the masked path becomes a bind of
/// the sysctl file (for runc, one outside the read-only /proc/sys, so writable: with
/// core_pattern that is a host escape). The target here is kernel.domainname, which lives in
/// the container's own UTS namespace, so a successful attack harms nothing on the host: it
/// shows as a masked path that is not empty and writes that change the domain name.
#[test]
fn cve_2025_31133_masked_paths_never_bind_a_dev_null_symlink() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    without_dev_tmpfs(&mut b);
    let dev = b.rootfs().join("dev");
    fs::create_dir_all(&dev).unwrap();
    symlink("/proc/sys/kernel/domainname", dev.join("null")).unwrap();
    // Into a file: a runtime that reopens "/dev/null" for stdio follows the link too.
    b.script(
        "/probe.sh",
        "{ echo masked=$(cat /proc/timer_list | wc -c)\n\
         echo write=$(sh -c 'echo pwned > /proc/timer_list' 2>&1 && echo ok)\n\
         echo domainname=$(cat /proc/sys/kernel/domainname); } > /result 2>&1",
    );
    let out = b.run();
    let result = fs::read_to_string(b.rootfs().join("result")).unwrap_or_default();
    eprintln!("started: {}; {result}", out.success());
    if rt.is_cella() {
        if out.success() {
            assert_eq!(value(&result, "masked"), "0", "{result}");
            assert_ne!(value(&result, "domainname"), "pwned", "{result}");
        }
    } else {
        // runc 1.1.5 binds the link's target over the masked file (RUNC-DIFFERENCES.md):
        // /proc/timer_list reads the domain name. Proof that the attack works.
        out.ok();
        assert_ne!(value(&result, "masked"), "0", "{result}");
    }
    b.assert_no_leftovers();
}

/// The image's /dev/console is a symlink to a host path (which also exists in the rootfs). A
/// naive runtime bind-mounts the pty over "/dev/console" by path, following the link: before
/// pivot_root onto the host's file, after it onto the rootfs's copy (a file the container
/// should not see turned into its terminal, or a masked file unmasked). The mount must land
/// on /dev/console itself or the container must not start.
#[test]
fn cve_2025_52565_dev_console_symlink_is_not_followed() {
    let Some(rt) = setup() else { return };
    let host = HostDir::new();
    let target = host.path().join("console-target");
    fs::write(&target, "host file").unwrap();
    let _unmount = UnmountAll(host.path().to_path_buf());
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    without_dev_tmpfs(&mut b);
    b.edit(|c| c["process"]["terminal"] = true.into());
    let inside = b.write_file(target.to_str().unwrap(), "rootfs file");
    fs::create_dir_all(b.rootfs().join("dev")).unwrap();
    symlink(&target, b.rootfs().join("dev/console")).unwrap();
    let t = target.to_str().unwrap();
    b.script(
        "/probe.sh",
        &format!(
            "{{ echo target=$(stat -c %F {t}); echo mounts=$(grep -c ' {t} ' /proc/self/mountinfo); \
             echo console=$(stat -c %F /dev/console); }} > /result"
        ),
    );
    let sock = integration_tests::ConsoleSocket::new();
    let created = b.create_with(&["--console-socket", &sock.arg()]);
    if created.success() {
        let _console = sock.receive(SECS);
        b.start().ok();
        b.wait_status("stopped");
        let out = fs::read_to_string(b.rootfs().join("result")).unwrap();
        eprintln!("started: {out}");
        if rt.is_cella() {
            assert_eq!(value(&out, "target"), "regular file", "{out}");
            assert_eq!(value(&out, "mounts"), "0", "{out}");
            assert_eq!(value(&out, "console"), "character special file", "{out}");
        } else {
            // runc 1.1.5 mounts the pty where the link points (RUNC-DIFFERENCES.md): the
            // rootfs's file is now the terminal. Proof that the attack works.
            assert_eq!(value(&out, "target"), "character special file", "{out}");
        }
    } else {
        eprintln!("refused: {created:?}");
    }
    assert_eq!(fs::read_to_string(&target).unwrap(), "host file");
    assert!(host_mounts_at_or_under(host.path()).is_empty());
    if rt.is_cella() {
        // runc 1.1.5 also truncates the file the link points to (it creates /dev/console
        // with O_TRUNC through the link).
        assert_eq!(fs::read_to_string(&inside).unwrap(), "rootfs file");
    }
    b.delete_force();
    b.assert_no_leftovers();
}

/// A volume mounted over /proc/sys/kernel holds `shmmax` as a symlink to another, real
/// procfs file (net.core.somaxconn, which lives in the container's own network namespace):
/// a runtime that only checks that it writes to *a* procfs file writes kernel.shmmax's value
/// into somaxconn. The sysctl must fail or leave somaxconn alone.
#[test]
fn cve_2025_52881_sysctl_write_is_not_redirected_to_another_proc_file() {
    let Some(rt) = setup() else { return };
    let host = HostDir::new();
    fs::set_permissions(host.path(), fs::Permissions::from_mode(0o755)).unwrap();
    symlink("../net/core/somaxconn", host.path().join("shmmax")).unwrap();
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    with_shmmax(&mut b);
    add_mount(
        &mut b,
        json!({"destination": "/proc/sys/kernel", "type": "bind",
               "source": host.path().to_str().unwrap(), "options": ["rbind"]}),
    );
    b.script(
        "/probe.sh",
        "echo somaxconn=$(cat /proc/sys/net/core/somaxconn)",
    );
    let out = b.run();
    eprintln!("started: {}; {}{}", out.success(), out.stdout, out.stderr);
    if out.success() {
        assert_ne!(value(&out.stdout, "somaxconn"), "123456789", "{out:?}");
    }
    b.assert_no_leftovers();
}

// ---------------------------------------------------------------------------------------
// A hostile rootfs: symlinks to host paths used as mount, device, masked and read-only paths.
// ---------------------------------------------------------------------------------------

/// Directories of the image are symlinks to a host directory, absolute (`/hostabs`) and by
/// enough `..` (`/hostrel`). A naive runtime joins the config's paths to the rootfs path and
/// lets the kernel follow the links before (or without) pivot_root: the bind mount, the
/// device node, the masking and the read-only remount then happen on the host. Everything
/// must land inside the rootfs (or be refused) and the host directory stay as it was.
#[test]
fn hostile_symlinks_in_the_rootfs_keep_everything_inside() {
    let Some(rt) = setup() else { return };
    let outside = HostDir::new();
    let _unmount = UnmountAll(outside.path().to_path_buf());
    for name in ["masked-file", "ro-file"] {
        fs::write(outside.path().join(name), "host data").unwrap();
    }
    fs::create_dir(outside.path().join("bind-target")).unwrap();
    let before = snapshot(outside.path());
    let source = HostDir::new();
    fs::write(source.path().join("from-source"), "x").unwrap();

    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    let abs = outside.path().to_str().unwrap().to_string();
    symlink(&abs, b.rootfs().join("hostabs")).unwrap();
    symlink(
        format!("{}{}", "../".repeat(12), abs.trim_start_matches('/')),
        b.rootfs().join("hostrel"),
    )
    .unwrap();
    let src = source.path().to_str().unwrap();
    for dest in ["/hostabs/bind-target", "/hostrel/bind-target"] {
        add_mount(
            &mut b,
            json!({"destination": dest, "type": "bind", "source": src, "options": ["bind"]}),
        );
    }
    b.edit(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/hostabs/dev-abs", "type": "c", "major": 1, "minor": 3},
            {"path": "/hostrel/dev-rel", "type": "c", "major": 1, "minor": 3}
        ]);
        let masked = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        masked.extend([json!("/hostabs/masked-file"), json!("/hostrel/masked-file")]);
        let ro = c["linux"]["readonlyPaths"].as_array_mut().unwrap();
        ro.extend([json!("/hostabs/ro-file"), json!("/hostrel/ro-file")]);
    });
    b.script(
        "/probe.sh",
        &format!("echo host_visible=$(cat {abs}/masked-file 2>/dev/null || echo no)"),
    );
    let out = b.run();
    eprintln!("started: {}; {}{}", out.success(), out.stdout, out.stderr);
    if out.success() {
        assert_eq!(value(&out.stdout, "host_visible"), "no", "{out:?}");
    }
    assert_eq!(
        snapshot(outside.path()),
        before,
        "the host directory changed\n{out:?}"
    );
    assert!(
        host_mounts_at_or_under(outside.path()).is_empty(),
        "mounts on the host directory\n{out:?}"
    );
    b.assert_no_leftovers();
}
