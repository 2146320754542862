//! `linux.seccomp`, checked from inside a busybox container: every action, every argument
//! operator, a default-deny allow list, flags, exec'd processes, refusals naming the rule, and
//! SCMP_ACT_NOTIFY with an agent made here (libseccomp's notification API).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::mpsc;
use std::time::Duration;

use integration_tests::procfs::status_field;
use integration_tests::{requires, Bundle, ConsoleSocket, Output, Req, Runtime};
use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde_json::{json, Value};

const SECS: Duration = Duration::from_secs(10);

fn setup() -> Option<Runtime> {
    requires(&[Req::Root]).then(Runtime::new)
}

/// A bundle running the script `body` as /probe.sh under the seccomp profile `seccomp`.
fn bundle(rt: &Runtime, seccomp: Value, body: &str) -> Bundle {
    let mut b = Bundle::new(rt, &["/probe.sh"]);
    b.script("/probe.sh", body);
    b.edit(|c| c["linux"]["seccomp"] = seccomp);
    b
}

/// `run` of the script under the profile, to completion.
fn run(rt: &Runtime, seccomp: Value, body: &str) -> Output {
    bundle(rt, seccomp, body).run()
}

fn allow_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

const MKDIR: [&str; 2] = ["mkdir", "mkdirat"];

#[test]
fn errno_returns_the_configured_errno_or_eperm() {
    let Some(rt) = setup() else { return };
    let out = run(
        &rt,
        allow_but(json!([
            {"names": MKDIR, "action": "SCMP_ACT_ERRNO", "errnoRet": 122},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}
        ])),
        "mkdir /tmp/d; echo mkdir=$?\nrmdir /tmp; echo rmdir=$?\n\
         touch /tmp/f && echo touch=ok",
    );
    out.ok();
    assert!(out.stdout.contains("mkdir=1\n"), "{out:?}");
    assert!(out.stderr.contains("Disk quota exceeded"), "{out:?}");
    assert!(out.stdout.contains("rmdir=1\n"), "{out:?}");
    assert!(out.stderr.contains("Operation not permitted"), "{out:?}");
    assert!(out.stdout.contains("touch=ok\n"), "{out:?}");
}

/// The shell itself makes the blocked syscall (`umask` is a builtin), so the container's
/// process dies of it.
#[test]
fn kill_actions_kill_with_sigsys() {
    let Some(rt) = setup() else { return };
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
    ] {
        let out = run(
            &rt,
            allow_but(json!([{"names": ["umask"], "action": action}])),
            "echo before\numask 022\necho after",
        );
        assert_eq!(out.code(), Some(128 + 31), "{action}: {out:?}");
        assert_eq!(out.stdout, "before\n", "{action}");
    }
    // A child of the shell dies; the shell goes on and sees it.
    let out = run(
        &rt,
        allow_but(json!([{"names": MKDIR, "action": "SCMP_ACT_KILL_PROCESS"}])),
        "mkdir /tmp/d; echo mkdir=$?",
    );
    out.ok();
    assert_eq!(out.stdout, "mkdir=159\n", "{out:?}");
}

#[test]
fn trap_sends_a_catchable_sigsys() {
    let Some(rt) = setup() else { return };
    let profile = allow_but(json!([{"names": ["umask"], "action": "SCMP_ACT_TRAP"}]));
    let out = run(
        &rt,
        profile.clone(),
        "trap 'echo caught SIGSYS' SYS\numask 022\necho after",
    );
    out.ok();
    assert_eq!(out.stdout, "caught SIGSYS\nafter\n", "{out:?}");
    let out = run(&rt, profile, "umask 022\necho after");
    assert_eq!(out.code(), Some(128 + 31), "{out:?}");
}

#[test]
fn log_allows_and_trace_without_tracer_fails_with_enosys() {
    let Some(rt) = setup() else { return };
    let out = run(
        &rt,
        allow_but(json!([
            {"names": MKDIR, "action": "SCMP_ACT_LOG"},
            {"names": ["rmdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}
        ])),
        "mkdir /tmp/d && echo mkdir=ok\nrmdir /tmp/d; echo rmdir=$?\n[ -d /tmp/d ] && echo kept",
    );
    out.ok();
    assert_eq!(out.stdout, "mkdir=ok\nrmdir=1\nkept\n", "{out:?}");
    assert!(out.stderr.contains("Function not implemented"), "{out:?}");
}

/// `kill` with signals whose default action is to ignore them (17 SIGCHLD, 18 SIGCONT,
/// 23 SIGURG) to a sleeping process: each operator blocks exactly the signals it should.
#[test]
fn every_argument_operator_compares_as_named() {
    let Some(rt) = setup() else { return };
    let ops = [
        ("SCMP_CMP_EQ", "17=0 18=1 23=0"),
        ("SCMP_CMP_NE", "17=1 18=0 23=1"),
        ("SCMP_CMP_LT", "17=1 18=0 23=0"),
        ("SCMP_CMP_LE", "17=1 18=1 23=0"),
        ("SCMP_CMP_GE", "17=0 18=1 23=1"),
        ("SCMP_CMP_GT", "17=0 18=0 23=1"),
    ];
    for (op, want) in ops {
        let out = run(
            &rt,
            allow_but(json!([{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                              "args": [{"index": 1, "value": 18, "op": op}]}])),
            "sleep 100 & p=$!\nr=''\nfor s in 17 18 23; do kill -$s $p 2>/dev/null; \
             r=\"$r $s=$?\"; done\necho $r",
        );
        out.ok();
        assert_eq!(out.stdout.trim(), want, "{op}: {out:?}");
    }
}

#[test]
fn kill_is_blocked_for_sigkill_only() {
    let Some(rt) = setup() else { return };
    let out = run(
        &rt,
        allow_but(json!([{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}])),
        "sleep 100 & p=$!\nkill -9 $p; echo kill9=$?\nkill -15 $p; echo kill15=$?\n\
         wait $p; echo status=$?",
    );
    out.ok();
    assert_eq!(out.stdout, "kill9=1\nkill15=0\nstatus=143\n", "{out:?}");
}

/// (flags & O_APPEND) == O_APPEND: appends are refused, other writes and reads are not.
#[test]
fn masked_eq_compares_the_masked_argument() {
    let Some(rt) = setup() else { return };
    let append = 0o2000;
    let out = run(
        &rt,
        allow_but(json!([
            {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 2, "value": append, "valueTwo": append, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["open"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 1, "value": append, "valueTwo": append, "op": "SCMP_CMP_MASKED_EQ"}]}
        ])),
        "echo x > /tmp/f; echo write=$?\necho y >> /tmp/f; echo append=$?\ncat /tmp/f",
    );
    out.ok();
    assert_eq!(out.stdout, "write=0\nappend=1\nx\n", "{out:?}");
    assert!(out.stderr.contains("Permission denied"), "{out:?}");
}

/// Syscalls a static busybox needs to run a small script with `mkdir`, `echo` and `cat`.
const BUSYBOX_SYSCALLS: &[&str] = &[
    "execve",
    "brk",
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "prlimit64",
    "readlink",
    "readlinkat",
    "mprotect",
    "mmap",
    "munmap",
    "getrandom",
    "uname",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getpid",
    "getppid",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "prctl",
    "open",
    "openat",
    "read",
    "write",
    "close",
    "fcntl",
    "dup2",
    "dup3",
    "lseek",
    "fstat",
    "newfstatat",
    "stat",
    "lstat",
    "statx",
    "ioctl",
    "getcwd",
    "chdir",
    "wait4",
    "clone",
    "clone3",
    "vfork",
    "fork",
    "exit",
    "exit_group",
    "access",
    "faccessat",
    "faccessat2",
    "getdents64",
    "pipe",
    "pipe2",
    "futex",
    "getpgrp",
    "setpgid",
    "getpgid",
    "sigaltstack",
    "madvise",
];

/// Syscalls runc 1.1.5's init makes after it installs the filter (it installs before it
/// waits for `start`, in the Go runtime); cella installs right before execve and needs none.
const RUNC_INIT_SYSCALLS: &[&str] = &[
    "close",
    "openat",
    "write",
    "getpid",
    "futex",
    "nanosleep",
    "sched_yield",
    "epoll_pwait",
    "epoll_ctl",
    "tgkill",
    "rt_sigreturn",
    "sigaltstack",
    "mmap",
    "munmap",
    "madvise",
    "clone",
    "gettid",
    "fstat",
    "newfstatat",
    "fcntl",
    "exit",
    "exit_group",
    "execve",
    "waitid",
    "read",
    "fstatfs",
    "statfs",
];

#[test]
fn default_errno_with_an_allow_list_runs_busybox() {
    let Some(rt) = setup() else { return };
    let mut allowed: Vec<&str> = BUSYBOX_SYSCALLS.to_vec();
    if !rt.is_cella() {
        allowed.extend_from_slice(RUNC_INIT_SYSCALLS);
    }
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 18,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]
    });
    let out = run(
        &rt,
        profile,
        "echo hello\ncat /etc/hostname 2>/dev/null || echo no-hostname\nmkdir /tmp/d; \
         echo mkdir=$?\ngrep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
    );
    out.ok();
    assert!(out.stdout.starts_with("hello\n"), "{out:?}");
    assert!(out.stdout.contains("mkdir=1\n"), "{out:?}");
    assert!(out.stderr.contains("Invalid cross-device link"), "{out:?}");
    assert_eq!(status_field(&out.stdout, "Seccomp"), Some("2"), "{out:?}");
    assert_eq!(
        status_field(&out.stdout, "NoNewPrivs"),
        Some("1"),
        "{out:?}"
    );
}

/// Under a denying default, a syscall newer than every one the profile names fails with
/// ENOSYS, as on a kernel without it, so that C libraries fall back to older ones; older
/// unnamed syscalls get the default action. Here the largest named is prlimit64 (302) and
/// `nsenter` makes setns (308).
#[cfg(target_arch = "x86_64")]
#[test]
fn syscalls_newer_than_the_profile_fail_with_enosys() {
    let Some(rt) = setup() else { return };
    let newer = ["getrandom", "statx", "rseq", "clone3", "faccessat2"];
    let mut allowed: Vec<&str> = BUSYBOX_SYSCALLS
        .iter()
        .copied()
        .filter(|s| !newer.contains(s))
        .collect();
    if !rt.is_cella() {
        allowed.extend_from_slice(RUNC_INIT_SYSCALLS);
    }
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]
    });
    let out = run(
        &rt,
        profile,
        "nsenter -t 1 -u true; echo nsenter=$?\nmkdir /tmp/d; echo mkdir=$?",
    );
    out.ok();
    assert_eq!(out.stdout, "nsenter=1\nmkdir=1\n", "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(lines[0].contains("Function not implemented"), "{out:?}");
    assert!(lines[1].contains("Operation not permitted"), "{out:?}");
}

/// Each flag the runtime lists in `supportedFlags` runs; cella lists all four. runc 1.1.5
/// lists none and refuses every flag ("seccomp flags are not yet supported by runc").
#[test]
fn supported_flags_are_accepted() {
    let Some(rt) = setup() else { return };
    let features = rt.features();
    let doc: Value = serde_json::from_str(&features.stdout).unwrap_or_default();
    let supported = &doc["linux"]["seccomp"]["supportedFlags"];
    for flag in [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    ] {
        let listed = supported
            .as_array()
            .is_some_and(|a| a.iter().any(|f| f == flag));
        if rt.is_cella() {
            assert!(
                listed,
                "{flag} missing from supportedFlags: {}",
                features.stdout
            );
        }
        let mut profile = allow_but(json!([{"names": MKDIR, "action": "SCMP_ACT_ERRNO"}]));
        profile["flags"] = json!([flag]);
        let out = run(
            &rt,
            profile,
            "mkdir /tmp/d; echo mkdir=$?\ngrep '^Seccomp:' /proc/self/status",
        );
        if !listed {
            out.failed();
            continue;
        }
        out.ok();
        assert_eq!(out.stdout, "mkdir=1\nSeccomp:\t2\n", "{flag}: {out:?}");
    }
}

#[test]
fn exec_processes_get_the_filter() {
    let Some(rt) = setup() else { return };
    let b = bundle(
        &rt,
        allow_but(json!([{"names": MKDIR, "action": "SCMP_ACT_ERRNO", "errnoRet": 122}])),
        "exec sleep 1000",
    );
    b.create().ok();
    b.start().ok();
    let out = rt.run(&[
        "exec",
        b.id(),
        "/bin/sh",
        "-c",
        "mkdir /tmp/d; echo mkdir=$?",
    ]);
    out.ok();
    assert_eq!(out.stdout, "mkdir=1\n", "{out:?}");
    assert!(out.stderr.contains("Disk quota exceeded"), "{out:?}");
}

/// Without no_new_privs the kernel wants CAP_SYS_ADMIN for a filter; a non-root user without
/// it still gets its filter (installed before the user switch), and no_new_privs stays off.
#[test]
fn filter_applies_to_an_unprivileged_user_without_no_new_privs() {
    let Some(rt) = setup() else { return };
    let mut b = bundle(
        &rt,
        allow_but(json!([{"names": MKDIR, "action": "SCMP_ACT_ERRNO"}])),
        "mkdir /tmp/d; echo mkdir=$?\nid -u\ngrep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
    );
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = false.into();
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    let out = b.run();
    out.ok();
    assert!(out.stdout.starts_with("mkdir=1\n1000\n"), "{out:?}");
    assert_eq!(status_field(&out.stdout, "Seccomp"), Some("2"), "{out:?}");
    assert_eq!(
        status_field(&out.stdout, "NoNewPrivs"),
        Some("0"),
        "{out:?}"
    );
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let Some(rt) = setup() else { return };
    let out = run(
        &rt,
        allow_but(
            json!([{"names": ["cella_no_such_syscall", "mkdir", "mkdirat"],
                          "action": "SCMP_ACT_ERRNO"}]),
        ),
        "mkdir /tmp/d; echo mkdir=$?",
    );
    out.ok();
    assert_eq!(out.stdout, "mkdir=1\n", "{out:?}");
}

/// A profile that cannot be built fails `create`, naming the rule; nothing is left behind.
#[test]
fn a_filter_that_cannot_be_built_names_the_rule() {
    let Some(rt) = setup() else { return };
    let b = bundle(
        &rt,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/cella-test-none.sock",
               "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}),
        "true",
    );
    let out = b.create();
    out.failed();
    assert!(
        out.stderr.contains("write") && out.stderr.contains("SCMP_ACT_NOTIFY"),
        "{out:?}"
    );
    if rt.is_cella() {
        out.says("seccomp rule for syscall write (SCMP_ACT_NOTIFY)");
    }
    b.assert_no_leftovers();
}

/// One listener's notifications, answered on a thread of their own: each request goes to the
/// test, which answers with the errno to fail the syscall with (0 lets it run).
struct Notifications {
    requests: mpsc::Receiver<ScmpNotifReq>,
    answers: mpsc::Sender<i32>,
}

impl Notifications {
    fn serve(listener: OwnedFd) -> Notifications {
        let (req_tx, requests) = mpsc::channel();
        let (answers, answer_rx) = mpsc::channel::<i32>();
        std::thread::spawn(move || loop {
            // Ends when the filter has no process left (POLLHUP) or nothing comes for long.
            let mut pfd = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
            match poll(&mut pfd, PollTimeout::from(20_000u16)) {
                Ok(1) if pfd[0].revents() == Some(PollFlags::POLLIN) => {}
                _ => return,
            }
            let Ok(req) = ScmpNotifReq::receive(listener.as_raw_fd()) else {
                return;
            };
            if req_tx.send(req).is_err() {
                return;
            }
            let Ok(errno) = answer_rx.recv() else { return };
            let resp = if errno == 0 {
                ScmpNotifResp::new_continue(req.id, ScmpNotifRespFlags::empty())
            } else {
                ScmpNotifResp::new_error(req.id, -errno, ScmpNotifRespFlags::empty())
            };
            let _ = resp.respond(listener.as_raw_fd());
        });
        Notifications { requests, answers }
    }

    #[track_caller]
    fn next(&self) -> ScmpNotifReq {
        self.requests
            .recv_timeout(SECS)
            .expect("a seccomp notification")
    }

    fn answer(&self, errno: i32) {
        self.answers.send(errno).unwrap();
    }
}

fn notify_mkdir(agent: &ConsoleSocket) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": agent.arg(),
        "listenerMetadata": "cella-test-metadata",
        "syscalls": [{"names": MKDIR, "action": "SCMP_ACT_NOTIFY"}]
    })
}

/// The container process state the agent got, checked against the spec's shape.
#[track_caller]
fn check_process_state(payload: &str, b: &Bundle, status: &str) -> Value {
    let doc: Value = serde_json::from_str(payload)
        .unwrap_or_else(|e| panic!("the agent's payload is not JSON ({e}): {payload:?}"));
    assert!(
        doc["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{doc}"
    );
    assert_eq!(doc["fds"], json!(["seccompFd"]), "{doc}");
    assert_eq!(doc["metadata"], "cella-test-metadata", "{doc}");
    let state = &doc["state"];
    assert_eq!(state["id"], b.id(), "{doc}");
    assert_eq!(state["status"], status, "{doc}");
    assert_eq!(
        state["bundle"],
        b.path().to_string_lossy().as_ref(),
        "{doc}"
    );
    assert!(doc["pid"].as_i64().is_some_and(|p| p > 1), "{doc}");
    doc
}

#[test]
fn notify_hands_the_listener_to_the_agent_which_answers_syscalls() {
    let Some(rt) = setup() else { return };
    let agent = ConsoleSocket::new();
    let b = bundle(
        &rt,
        notify_mkdir(&agent),
        "mkdir /tmp/a; echo a=$?\nmkdir /tmp/b; echo b=$?\n[ -d /tmp/b ] && echo b-made\n\
         exec sleep 1000",
    );
    let created = b.create();
    created.ok();
    let msg = agent.receive(SECS);
    assert_eq!((msg.fd_count, msg.message_count), (1, 1), "{}", msg.payload);
    let doc = check_process_state(&msg.payload, &b, "creating");
    let init = i64::from(b.pid());
    assert_eq!(
        (doc["pid"].as_i64(), doc["state"]["pid"].as_i64()),
        (Some(init), Some(init))
    );
    let notifications = Notifications::serve(msg.master);

    b.start().ok();
    let first = notifications.next();
    let name = first.data.syscall.get_name().unwrap();
    assert!(MKDIR.contains(&name.as_str()), "{name}");
    // The syscall waits for the agent's answer.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        created.stdout_now(),
        "",
        "mkdir returned before the agent answered"
    );
    notifications.answer(libc::EXDEV);
    notifications.next();
    notifications.answer(0);
    created.wait_stdout("the script", SECS, |s| s.contains("b-made"));
    assert_eq!(created.stdout_now(), "a=1\nb=0\nb-made\n");
    let stderr = std::fs::read_to_string(&created.stderr_file).unwrap();
    assert!(stderr.contains("Invalid cross-device link"), "{stderr}");

    // The listener went to the agent only: the container's process does not hold it.
    let fds = std::fs::read_dir(format!("/proc/{init}/fd")).unwrap();
    for fd in fds.flatten() {
        let target = std::fs::read_link(fd.path()).unwrap_or_default();
        assert!(
            !target.to_string_lossy().contains("seccomp"),
            "the container holds {}",
            target.display()
        );
    }

    // An exec'd process gets the filter and a listener of its own, with the running state.
    let exec = rt
        .call(&["exec", b.id(), "/bin/sh", "-c", "mkdir /tmp/c; echo c=$?"])
        .spawn();
    let msg = agent.receive(SECS);
    let doc = check_process_state(&msg.payload, &b, "running");
    assert_eq!(doc["state"]["pid"].as_i64(), Some(init), "{doc}");
    assert_ne!(doc["pid"].as_i64(), Some(init), "{doc}");
    let exec_notifications = Notifications::serve(msg.master);
    exec_notifications.next();
    exec_notifications.answer(libc::EACCES);
    let out = exec.wait(SECS);
    out.ok();
    assert_eq!(out.stdout, "c=1\n", "{out:?}");
    assert!(out.stderr.contains("Permission denied"), "{out:?}");
}

#[test]
fn notify_fails_create_when_the_agent_is_not_there() {
    let Some(rt) = setup() else { return };
    let agent = ConsoleSocket::new();
    let mut profile = notify_mkdir(&agent);
    profile["listenerPath"] = format!("{}.missing", agent.arg()).into();
    let b = bundle(&rt, profile, "true");
    let out = b.create();
    out.failed();
    if rt.is_cella() {
        out.says("seccomp notify: send the listener to");
    }
    b.assert_no_leftovers();
}

/// Without no_new_privs, a user without CAP_SYS_ADMIN gets the filter before its user switch;
/// its listener still reaches the agent.
#[test]
fn notify_works_for_an_unprivileged_user_without_no_new_privs() {
    let Some(rt) = setup() else { return };
    let agent = ConsoleSocket::new();
    let mut b = bundle(&rt, notify_mkdir(&agent), "mkdir /tmp/a; echo a=$?; id -u");
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = false.into();
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    let created = b.create();
    created.ok();
    let msg = agent.receive(SECS);
    check_process_state(&msg.payload, &b, "creating");
    let notifications = Notifications::serve(msg.master);
    b.start().ok();
    notifications.next();
    notifications.answer(libc::EXDEV);
    created.wait_stdout("the script", SECS, |s| s.contains("1000"));
    assert_eq!(created.stdout_now(), "a=1\n1000\n");
}

/// Profiles older than close_range (runtime-tools' default profile, as the OCI validation
/// suite's `start`, `kill`, `state`... use it) deny it with ENOSYS or EPERM. Without
/// no_new_privs and CAP_SYS_ADMIN the filter is in place before the runtime marks its fds
/// close-on-exec: the container must still start, with nothing but stdio left open.
#[test]
fn profile_denying_close_range_still_starts_without_leaking_fds() {
    let Some(rt) = setup() else { return };
    for errno in [libc::ENOSYS, libc::EPERM] {
        let mut b = bundle(
            &rt,
            allow_but(
                json!([{"names": ["close_range"], "action": "SCMP_ACT_ERRNO",
                              "errnoRet": errno}]),
            ),
            "ls /proc/self/fd | tr '\\n' ' '",
        );
        b.edit(|c| {
            c["process"]["noNewPrivileges"] = false.into();
            let caps = json!(["CAP_KILL", "CAP_SETUID", "CAP_SETGID"]);
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set] = caps.clone();
            }
        });
        let out = b.run();
        out.ok();
        // ls's own directory fd is 3.
        assert_eq!(out.stdout.trim_end(), "0 1 2 3", "errno {errno}: {out:?}");
    }
}
