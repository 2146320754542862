//! `linux.seccomp`, checked from inside a busybox container: every action, every argument
//! operator, a default-deny allow list, flags, exec'd processes, refusals naming the rule, and
//! SCMP_ACT_NOTIFY with an agent (in `seccomp_notify.rs`).

use integration_tests::procfs::status_field;
use integration_tests::{requires, Bundle, Output, Req, Runtime};
use serde_json::{json, Value};

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
    "pidfd_open",
    "pidfd_send_signal",
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
