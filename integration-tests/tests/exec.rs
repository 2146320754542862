//! `exec`: a new process in a running container's namespaces and cgroup, runc's flags
//! checked from inside, exit status passthrough, `--detach --pid-file`, and the refusals.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

use integration_tests::procfs::{cap_mask, cgroup_dirs, ns_link, status_field};
use integration_tests::{setup, value, wait_for, Bundle, Runtime, DEFAULT_CAPS};
use serde_json::json;

const SECS: Duration = Duration::from_secs(10);

/// A started container whose init sleeps.
fn sleeping(rt: &Runtime) -> Bundle {
    let b = Bundle::new(rt, &["sleep", "1000"]);
    b.create().ok();
    b.start().ok();
    b
}

/// `exec [flags] ID args...`
fn exec(b: &Bundle, flags: &[&str], args: &[&str]) -> integration_tests::Output {
    b.rt().run(&exec_args(b, flags, args))
}

fn exec_args<'a>(b: &'a Bundle, flags: &[&'a str], args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["exec"];
    all.extend_from_slice(flags);
    all.push(b.id());
    all.extend_from_slice(args);
    all
}

/// The stdout of a successful `exec [flags] ID /bin/sh -c script`.
#[track_caller]
fn exec_sh(b: &Bundle, flags: &[&str], script: &str) -> String {
    let out = exec(b, flags, &["/bin/sh", "-c", script]);
    out.ok();
    out.stdout
}

#[test]
fn exit_status_args_and_stdin_pass_through() {
    let Some(rt) = setup() else { return };
    let b = sleeping(&rt);
    let out = exec(&b, &[], &["/bin/sh", "-c", "echo bye; exit 7"]);
    assert_eq!(out.code(), Some(7), "{out:?}");
    assert_eq!(out.stdout, "bye\n");

    b.script(
        "/args.sh",
        "echo argc=$#\necho arg1=$1\necho arg2=$2\necho arg3=$3",
    );
    let out = exec(&b, &[], &["/args.sh", "one two", "", "three"]);
    out.ok();
    assert_eq!(value(&out.stdout, "argc"), "3");
    assert_eq!(value(&out.stdout, "arg1"), "one two");
    assert_eq!(value(&out.stdout, "arg2"), "");
    assert_eq!(value(&out.stdout, "arg3"), "three");

    let input = "line one\nline two\n";
    let out = rt
        .call(&exec_args(&b, &[], &["cat"]))
        .stdin(input.as_bytes())
        .output();
    out.ok();
    assert_eq!(out.stdout, input);
    assert_eq!(b.status(), "running", "exec disturbed the container");
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn exec_runs_in_a_created_container_and_leaves_it_created() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "1000"]);
    b.create().ok();
    let out = exec(&b, &[], &["echo", "in created"]);
    out.ok();
    assert_eq!(out.stdout, "in created\n");
    assert_eq!(b.status(), "created");
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn cwd_and_env_flags_apply() {
    let Some(rt) = setup() else { return };
    let b = sleeping(&rt);
    fs::create_dir_all(b.rootfs().join("work/dir")).unwrap();
    let out = exec_sh(&b, &["--cwd", "/work/dir"], "echo cwd=$(pwd)");
    assert_eq!(value(&out, "cwd"), "/work/dir");

    // (runc's flag parser refuses mixing -e and --env in one call.)
    // The config has TERM=xterm: -e replaces it, and the last of two -e A= wins, so every
    // program (getenv takes the first match) sees one value.
    let out = exec(
        &b,
        &["-e", "TERM=dumb", "-e", "A=1", "-e", "A=2", "-e", "B=x y"],
        &["env"],
    );
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let only = |name: &str| -> Vec<&str> {
        let prefix = format!("{name}=");
        lines
            .iter()
            .filter(|l| l.starts_with(&prefix))
            .copied()
            .collect()
    };
    assert_eq!(only("TERM"), ["TERM=dumb"], "{out:?}");
    assert_eq!(only("A"), ["A=2"], "{out:?}");
    assert_eq!(only("B"), ["B=x y"], "{out:?}");
    assert!(
        only("PATH")[0].starts_with("PATH=/usr/local/sbin"),
        "the config's PATH is gone: {out:?}"
    );
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn user_and_additional_gids_flags_apply() {
    let Some(rt) = setup() else { return };
    let b = sleeping(&rt);
    let probe = "echo uid=$(id -u)\necho gid=$(id -g)\necho groups=$(id -G)";
    let out = exec_sh(&b, &["-u", "1000:1001", "-g", "5", "-g", "65534"], probe);
    assert_eq!(value(&out, "uid"), "1000");
    assert_eq!(value(&out, "gid"), "1001");
    let mut groups: Vec<&str> = value(&out, "groups").split_whitespace().collect();
    groups.sort();
    assert_eq!(groups, ["1001", "5", "65534"]);

    // A uid alone keeps gid 0.
    let out = exec_sh(&b, &["--user", "1000"], probe);
    assert_eq!((value(&out, "uid"), value(&out, "gid")), ("1000", "0"));
    b.delete_force().ok();
    b.assert_no_leftovers();
}

const CAP_PROBE: &str = "grep Cap /proc/self/status";

#[test]
fn cap_flag_adds_to_bounding_effective_and_permitted() {
    let Some(rt) = setup() else { return };
    let b = sleeping(&rt);
    let plain = exec_sh(&b, &[], CAP_PROBE);
    let default = cap_mask(DEFAULT_CAPS);
    for set in ["CapBnd", "CapEff", "CapPrm"] {
        assert_eq!(status_field(&plain, set), Some(default.as_str()), "{plain}");
    }

    let out = exec_sh(
        &b,
        &["--cap", "CAP_SYS_ADMIN", "--cap", "CAP_NET_ADMIN"],
        CAP_PROBE,
    );
    let mut names = DEFAULT_CAPS.to_vec();
    names.extend(["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]);
    let more = cap_mask(&names);
    for set in ["CapBnd", "CapEff", "CapPrm"] {
        assert_eq!(
            status_field(&out, set),
            Some(more.as_str()),
            "{set}:\n{out}"
        );
    }
    let eff = u64::from_str_radix(status_field(&out, "CapEff").unwrap(), 16).unwrap();
    assert_ne!(eff & (1 << 21), 0, "no CAP_SYS_ADMIN (bit 21):\n{out}");
    for set in ["CapInh", "CapAmb"] {
        assert_eq!(status_field(&out, set), Some("0000000000000000"), "{out}");
    }
    // The flag is for that process only.
    assert_eq!(exec_sh(&b, &[], CAP_PROBE), plain);
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn no_new_privs_flag_sets_it() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["sleep", "1000"]);
    b.edit(|c| c["process"]["noNewPrivileges"] = false.into());
    b.create().ok();
    b.start().ok();
    let probe = "grep NoNewPrivs /proc/self/status";
    let nnp = |flags: &[&str]| {
        let out = exec_sh(&b, flags, probe);
        status_field(&out, "NoNewPrivs").unwrap().to_string()
    };
    assert_eq!(nnp(&[]), "0");
    assert_eq!(nnp(&["--no-new-privs"]), "1");
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn process_file_gives_the_whole_process() {
    let Some(rt) = setup() else { return };
    let b = sleeping(&rt);
    b.script(
        "/probe.sh",
        "echo arg1=$1\necho cwd=$(pwd)\necho uid=$(id -u)\necho gid=$(id -g)\n\
         echo groups=$(id -G)\necho p=$P\necho term=$TERM\nexit 5",
    );
    let process = json!({
        "terminal": false,
        "user": {"uid": 1000, "gid": 1001, "additionalGids": [7]},
        "args": ["/probe.sh", "a b"],
        "env": ["PATH=/bin", "P=q r"],
        "cwd": "/tmp"
    });
    let file = rt.scratch().join("process.json");
    fs::write(&file, process.to_string()).unwrap();
    let out = rt.run(&["exec", "--process", file.to_str().unwrap(), b.id()]);
    assert_eq!(out.code(), Some(5), "{out:?}");
    let o = &out.stdout;
    assert_eq!(value(o, "arg1"), "a b");
    assert_eq!(value(o, "cwd"), "/tmp");
    assert_eq!((value(o, "uid"), value(o, "gid")), ("1000", "1001"));
    let mut groups: Vec<&str> = value(o, "groups").split_whitespace().collect();
    groups.sort();
    assert_eq!(groups, ["1001", "7"]);
    assert_eq!(value(o, "p"), "q r");
    // The file's env is the whole env: nothing of the config's (TERM=xterm).
    assert_eq!(value(o, "term"), "");
    b.delete_force().ok();
    b.assert_no_leftovers();
}

fn temp_fd(path: &std::path::Path) -> OwnedFd {
    fs::File::create(path).unwrap().into()
}

#[test]
fn preserve_fds_passes_extra_descriptors() {
    let Some(rt) = setup() else { return };
    let b = sleeping(&rt);
    let script = ["/bin/sh", "-c", "echo through-fd3 >&3"];
    let f3 = rt.scratch().join("fd3");
    let out = rt
        .call(&exec_args(&b, &["--preserve-fds", "1"], &script))
        .fd(3, temp_fd(&f3))
        .output();
    out.ok();
    assert_eq!(fs::read_to_string(&f3).unwrap(), "through-fd3\n");

    // Without --preserve-fds the descriptor does not reach the process.
    let g3 = rt.scratch().join("fd3-not");
    let out = rt
        .call(&exec_args(&b, &[], &script))
        .fd(3, temp_fd(&g3))
        .output();
    out.failed();
    assert_eq!(fs::read_to_string(&g3).unwrap(), "");
    b.delete_force().ok();
    b.assert_no_leftovers();
}

/// `sub` made in each of the container's cgroup directories (cpuset's given its parent's
/// cpus and mems, else nothing can join it); removed on drop, before the container is, as
/// a cgroup with children cannot be removed.
struct SubCgroups(Vec<PathBuf>);

impl SubCgroups {
    fn new(pid: i32) -> SubCgroups {
        let mut made = SubCgroups(Vec::new());
        for (ctrls, dir) in cgroup_dirs(pid) {
            let sub = dir.join("sub");
            fs::create_dir(&sub).unwrap_or_else(|e| panic!("mkdir {}: {e}", sub.display()));
            made.0.push(sub.clone());
            if ctrls.split(',').any(|c| c == "cpuset") {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    fs::write(sub.join(f), fs::read(dir.join(f)).unwrap()).unwrap();
                }
            }
        }
        made
    }
}

impl Drop for SubCgroups {
    fn drop(&mut self) {
        for d in &self.0 {
            // The exec'd processes are gone, but maybe not reaped yet: retry briefly.
            for _ in 0..200 {
                if fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The lines of /proc/self/cgroup as the process sees it, by controllers ("" for v2).
fn cgroup_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, c, p) = (f.next()?, f.next()?, f.next()?);
            Some((c.to_string(), p.to_string()))
        })
        .collect()
}

#[test]
fn cgroup_flag_puts_the_process_in_a_sub_cgroup() {
    let Some(rt) = setup() else { return };
    if !std::path::Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
        eprintln!("SKIPPED: no cgroup v1 pids hierarchy");
        return;
    }
    let b = sleeping(&rt);
    let subs = SubCgroups::new(b.pid());
    let probe = ["cat", "/proc/self/cgroup"];
    // The container has its own cgroup namespace: its cgroup is "/" inside.
    let plain = cgroup_lines(&exec(&b, &[], &probe).ok().stdout);
    assert!(plain.len() > 1, "{plain:?}");
    assert!(plain.iter().all(|(_, p)| p == "/"), "{plain:?}");

    let out = exec(&b, &["--cgroup", "pids:sub"], &probe);
    for (ctrls, path) in cgroup_lines(&out.ok().stdout) {
        let want = if ctrls == "pids" { "/sub" } else { "/" };
        assert_eq!(path, want, "{ctrls}:\n{out:?}");
    }
    let out = exec(&b, &["--cgroup", "sub"], &probe);
    let lines = cgroup_lines(&out.ok().stdout);
    assert!(lines.iter().all(|(_, p)| p == "/sub"), "{out:?}");

    let out = exec(&b, &["--cgroup", "pids:nosuch"], &["true"]);
    assert_eq!(out.code(), Some(255), "{out:?}");
    drop(subs);
    b.delete_force().ok();
    b.assert_no_leftovers();
}

const NAMESPACES: &[&str] = &["pid", "mnt", "net", "ipc", "uts", "cgroup"];

#[test]
fn the_process_joins_the_containers_namespaces_and_cgroup() {
    let Some(rt) = setup() else { return };
    let b = sleeping(&rt);
    let init = b.pid();
    let links: String = NAMESPACES
        .iter()
        .map(|ns| format!("echo {ns}=$(readlink /proc/self/ns/{ns})\n"))
        .collect();
    let out = exec_sh(
        &b,
        &[],
        &format!("{links}echo pid=$$\necho init=$(cat /proc/1/cmdline)\necho host=$(hostname)"),
    );
    for ns in NAMESPACES {
        assert_eq!(
            value(&out, ns),
            ns_link(&init.to_string(), ns),
            "{ns} namespace:\n{out}"
        );
    }
    assert_ne!(value(&out, "pid"), "1", "{out}");
    assert_eq!(value(&out, "init"), "sleep1000", "{out}");
    assert_eq!(value(&out, "host"), "cella-test");
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn detached_exec_writes_its_pid_and_dies_with_the_container() {
    let Some(rt) = setup() else { return };
    let b = sleeping(&rt);
    let init = b.pid();
    let pid_file = rt.scratch().join("exec.pid");
    let out = exec(
        &b,
        &["--detach", "--pid-file", pid_file.to_str().unwrap()],
        &["sleep", "999"],
    );
    out.ok();
    let text = fs::read_to_string(&pid_file).unwrap();
    assert!(
        !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit()),
        "pid file holds {text:?}, expected only digits"
    );
    let pid: i32 = text.parse().unwrap();
    let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert_eq!(cmd, b"sleep\0999\0", "pid {pid} is not the exec'd process");
    for ns in NAMESPACES {
        assert_eq!(
            ns_link(&text, ns),
            ns_link(&init.to_string(), ns),
            "{ns} namespace of {pid}"
        );
    }
    let cgroup = |p: i32| fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(cgroup(pid), cgroup(init), "the exec'd process's cgroups");
    assert_eq!(b.status(), "running");

    b.delete_force().ok();
    wait_for("the exec'd process to die", SECS, || {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
        matches!(state, None | Some('Z') | Some('X')).then_some(())
    });
    b.assert_no_leftovers();
}

#[test]
fn a_missing_binary_fails_with_255_and_runcs_message() {
    let Some(rt) = setup() else { return };
    let b = sleeping(&rt);
    let out = exec(&b, &[], &["/bin/nope"]);
    assert_eq!(out.code(), Some(255), "{out:?}");
    out.says("exec failed");
    // The log line quotes the message, escaping its own quotes.
    let unescaped = out.stderr.replace('\\', "");
    assert!(
        unescaped.contains(r#"exec: "/bin/nope": stat /bin/nope: no such file or directory"#),
        "{out:?}"
    );
    let out = exec(&b, &["--cwd", "/no/such/dir"], &["true"]);
    assert_eq!(out.code(), Some(255), "{out:?}");
    out.says("exec failed").says("/no/such/dir");
    assert_eq!(b.status(), "running");
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn a_stopped_or_unknown_container_is_refused() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["true"]);
    b.create().ok();
    b.start().ok();
    b.wait_status("stopped");
    let out = exec(&b, &[], &["true"]);
    assert_eq!(out.code(), Some(255), "{out:?}");
    out.says("cannot exec in a stopped container");
    b.delete().ok();
    let out = exec(&b, &[], &["true"]);
    assert_eq!(out.code(), Some(255), "{out:?}");
    out.says("does not exist");
    b.assert_no_leftovers();
}

#[test]
fn a_paused_container_is_refused_unless_asked() {
    let Some(rt) = setup() else { return };
    if !rt.supports("pause") {
        eprintln!("SKIPPED: the runtime under test has no pause command");
        return;
    }
    let b = sleeping(&rt);
    rt.run(&["pause", b.id()]).ok();
    let out = exec(&b, &[], &["true"]);
    assert_eq!(out.code(), Some(255), "{out:?}");
    out.says("cannot exec in a paused container (use --ignore-paused to override)");
    // With --ignore-paused the process is created, but frozen with the container: it runs
    // once the container is resumed.
    let running = rt
        .call(&exec_args(
            &b,
            &["--ignore-paused"],
            &["echo", "after resume"],
        ))
        .spawn();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !running.stdout_so_far().contains("after resume"),
        "the process ran in a paused container"
    );
    rt.run(&["resume", b.id()]).ok();
    let out = running.wait(SECS);
    out.ok();
    assert_eq!(out.stdout, "after resume\n");
    b.delete_force().ok();
    b.assert_no_leftovers();
}
