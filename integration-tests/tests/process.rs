//! The container process: args, env, cwd, user, rlimits, capabilities, scheduling, stdio
//! and inherited file descriptors, checked from inside.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;

use integration_tests::procfs::cap_mask;
use integration_tests::{run_script, setup, value, Bundle, Runtime};
use serde_json::{json, Value};

fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

#[test]
fn args_env_and_cwd_reach_the_process() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh", "one two", "", "three"]);
    fs::create_dir_all(b.rootfs().join("work/dir")).unwrap();
    b.edit(|c| {
        c["process"]["cwd"] = "/work/dir".into();
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push("FOO=bar baz=qux".into());
    });
    let out = run_script(
        &b,
        "echo argc=$#\necho arg1=$1\necho arg2=$2\necho arg3=$3\necho foo=$FOO\n\
         echo cwd=$(pwd)\necho home=$HOME\necho path=$PATH",
    );
    assert_eq!(value(&out, "argc"), "3");
    assert_eq!(value(&out, "arg1"), "one two");
    assert_eq!(value(&out, "arg2"), "");
    assert_eq!(value(&out, "arg3"), "three");
    assert_eq!(value(&out, "foo"), "bar baz=qux");
    assert_eq!(value(&out, "cwd"), "/work/dir");
    // HOME comes from the user's /etc/passwd entry when the config does not set it.
    assert_eq!(value(&out, "home"), "/root");
    assert!(value(&out, "path").starts_with("/usr/local/sbin"));
}

#[test]
fn user_ids_groups_and_umask_apply() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| {
        c["process"]["user"] =
            json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 65534], "umask": 0o027});
    });
    let out = run_script(
        &b,
        "echo uid=$(id -u)\necho gid=$(id -g)\necho groups=$(id -G)\necho umask=$(umask)\n\
         touch /tmp/made\necho home=$HOME",
    );
    assert_eq!(value(&out, "uid"), "1000");
    assert_eq!(value(&out, "gid"), "1001");
    let mut groups = words(value(&out, "groups"));
    groups.sort();
    assert_eq!(groups, ["1001", "5", "65534"]);
    assert_eq!(value(&out, "umask"), "0027");
    let passwd = fs::read_to_string(b.rootfs().join("etc/passwd")).unwrap();
    let home = passwd
        .lines()
        .find(|l| l.split(':').nth(2) == Some("1000"))
        .unwrap();
    assert_eq!(value(&out, "home"), home.split(':').nth(5).unwrap());
    let meta = fs::metadata(b.rootfs().join("tmp/made")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (1000, 1001, 0o640)
    );
}

#[test]
fn rlimits_apply_and_cannot_exceed_the_hard_limit_of_the_host() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
            {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400}
        ]);
    });
    let out = run_script(
        &b,
        "echo nofile=$(ulimit -n) $(ulimit -Hn)\necho nproc=$(ulimit -u) $(ulimit -Hu)",
    );
    assert_eq!(value(&out, "nofile"), "512 1000");
    assert_eq!(value(&out, "nproc"), "300 400");

    // Root without CAP_SYS_RESOURCE cannot raise a hard limit above its own.
    let (_, host_hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    if host_hard < 1 << 20 {
        let mut high = Bundle::new(&rt, &["true"]);
        high.edit(|c| {
            c["process"]["rlimits"] =
                json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": host_hard + 1000}]);
        });
        let out = high.run();
        if out.success() {
            eprintln!("NOTE: raising RLIMIT_NOFILE worked: this host grants CAP_SYS_RESOURCE");
        } else {
            out.says("operation not permitted");
        }
        high.assert_no_leftovers();
    }
}

#[test]
fn no_new_privileges_is_set_when_asked() {
    let Some(rt) = setup() else { return };
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let mut b = Bundle::new(&rt, &["/probe.sh"]);
        b.edit(|c| c["process"]["noNewPrivileges"] = nnp.into());
        let out = run_script(
            &b,
            "echo nnp=$(grep NoNewPrivs /proc/self/status | cut -f2)",
        );
        assert_eq!(value(&out, "nnp"), want, "noNewPrivileges {nnp}");
    }
}

fn cap_probe() -> &'static str {
    "for s in CapBnd CapEff CapPrm CapInh CapAmb; do \
     echo $s=$(grep ^$s: /proc/self/status | cut -f2); done"
}

#[test]
fn capability_sets_of_root_follow_the_bounding_set() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["/probe.sh"]);
    let out = run_script(&b, cap_probe());
    let default = cap_mask(integration_tests::DEFAULT_CAPS);
    assert_eq!(value(&out, "CapBnd"), default);
    assert_eq!(value(&out, "CapEff"), default);
    assert_eq!(value(&out, "CapPrm"), default);
    assert_eq!(value(&out, "CapInh"), cap_mask(&[]));
    assert_eq!(value(&out, "CapAmb"), cap_mask(&[]));
}

#[test]
fn all_five_capability_sets_of_a_non_root_user() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    let bnd = ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"];
    let two = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] = json!({
            "bounding": bnd, "effective": two, "permitted": two,
            "inheritable": two, "ambient": ["CAP_KILL"]
        });
    });
    let out = run_script(&b, cap_probe());
    // After execve a non-root process keeps bounding and inheritable; its permitted and
    // effective sets become the ambient set.
    assert_eq!(value(&out, "CapBnd"), cap_mask(&bnd));
    assert_eq!(value(&out, "CapInh"), cap_mask(&two));
    assert_eq!(value(&out, "CapAmb"), cap_mask(&["CAP_KILL"]));
    assert_eq!(value(&out, "CapPrm"), cap_mask(&["CAP_KILL"]));
    assert_eq!(value(&out, "CapEff"), cap_mask(&["CAP_KILL"]));
}

#[test]
fn oom_score_adj_is_set() {
    let Some(rt) = setup() else { return };
    let own: i32 = fs::read_to_string("/proc/self/oom_score_adj")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Only upward: root here lacks CAP_SYS_RESOURCE (MACHINE-NOTES.md).
    let want = (own.max(0) + 123).min(1000);
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| c["process"]["oomScoreAdj"] = want.into());
    let out = run_script(&b, "echo oom=$(cat /proc/self/oom_score_adj)");
    assert_eq!(value(&out, "oom"), want.to_string());
}

/// Runs `probe` with `field` set in process (cella), or (runc 1.1.5, which lacks the field:
/// RUNC-DIFFERENCES.md) runs `runc_probe`, which gets the same effect by hand, to prove the
/// probe reads what the test expects.
fn with_process_field(
    rt: &Runtime,
    field: &str,
    v: Value,
    probe: &str,
    runc_probe: &str,
) -> String {
    let mut b = Bundle::new(rt, &["/probe.sh"]);
    if rt.is_cella() {
        b.edit(|c| c["process"][field] = v);
        run_script(&b, probe)
    } else {
        run_script(&b, runc_probe)
    }
}

#[test]
fn personality_linux32_makes_uname_say_i686() {
    let Some(rt) = setup() else { return };
    // config-linux.md: `linux.personality`, not a process field.
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    let probe = if rt.is_cella() {
        b.edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX32"}));
        "echo machine=$(uname -m)"
    } else {
        "echo machine=$(linux32 uname -m)"
    };
    let out = run_script(&b, probe);
    assert_eq!(value(&out, "machine"), "i686");
}

#[test]
fn scheduler_policy_and_nice_apply() {
    let Some(rt) = setup() else { return };
    let out = with_process_field(
        &rt,
        "scheduler",
        json!({"policy": "SCHED_BATCH", "nice": 7}),
        "echo sched=$(cut -d' ' -f19,41 /proc/self/stat)",
        // No chrt nor nice in busybox: renice alone, SCHED_OTHER (0) stays.
        "renice -n 7 -p $$ >/dev/null; echo sched=$(cut -d' ' -f19,41 /proc/self/stat)",
    );
    // Fields 19 and 41 of /proc/PID/stat: nice, then policy (SCHED_BATCH is 3).
    let want = if rt.is_cella() { "7 3" } else { "7 0" };
    assert_eq!(value(&out, "sched"), want);
}

#[test]
fn io_priority_applies() {
    let Some(rt) = setup() else { return };
    let out = with_process_field(
        &rt,
        "ioPriority",
        json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
        "echo io=$(ionice -p $$)",
        "echo io=$(ionice -c 2 -n 6 sh -c 'ionice -p $$')",
    );
    assert_eq!(value(&out, "io"), "best-effort: prio 6");
}

#[test]
fn exec_cpu_affinity_does_not_apply_to_init() {
    let Some(rt) = setup() else { return };
    // config.md: execCPUAffinity "is not applicable to the container's init process" (exec
    // processes get it); init keeps the affinity it inherits.
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| c["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "1"}));
    let out = run_script(
        &b,
        "echo cpus=$(grep Cpus_allowed_list /proc/self/status | cut -f2)",
    );
    let host = fs::read_to_string("/proc/self/status").unwrap();
    let host = host
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    assert_eq!(value(&out, "cpus"), host);
}

#[test]
fn stdin_is_passed_through() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["cat"]);
    let input = b"line one\nline two\n";
    let out = b.call("run", &[]).stdin(input).output();
    out.ok();
    assert_eq!(out.stdout.as_bytes(), input);
    b.assert_no_leftovers();
}

fn temp_fd(path: &std::path::Path) -> OwnedFd {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .into()
}

#[test]
fn preserve_fds_passes_extra_descriptors() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["/probe.sh"]);
    b.script(
        "/probe.sh",
        "echo via-fd3 >&3 && echo wrote=yes\necho listen=$LISTEN_FDS",
    );
    let file = b.path().join("fd3.txt");
    let out = b
        .call("run", &["--preserve-fds", "1"])
        .fd(3, temp_fd(&file))
        .output();
    out.ok();
    assert_eq!(value(&out.stdout, "wrote"), "yes");
    assert_eq!(value(&out.stdout, "listen"), "");
    assert_eq!(fs::read_to_string(&file).unwrap(), "via-fd3\n");

    // Without --preserve-fds the descriptor does not reach the container.
    let c = Bundle::new(&rt, &["/probe.sh"]);
    // Not $(ls ...): command substitution itself opens a pipe in the shell.
    c.script(
        "/probe.sh",
        "{ echo leaked >&3; } 2>/dev/null\nls /proc/$$/fd > /tmp/fds\necho fds=$(cat /tmp/fds)",
    );
    let file = c.path().join("fd3.txt");
    let out = c.call("run", &[]).fd(3, temp_fd(&file)).output();
    out.ok();
    assert!(!words(value(&out.stdout, "fds")).contains(&"3"), "{out:?}");
    assert_eq!(fs::read_to_string(&file).unwrap(), "");
}

#[test]
fn listen_fds_are_passed_with_their_environment() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["/probe.sh"]);
    b.script(
        "/probe.sh",
        "echo listen >&3 && echo preserved >&4\necho fds=$LISTEN_FDS\necho pid=$LISTEN_PID",
    );
    let f3 = b.path().join("fd3.txt");
    let f4 = b.path().join("fd4.txt");
    let out = b
        .call("run", &["--preserve-fds", "1"])
        .env("LISTEN_FDS", "1")
        .listen_pid()
        .fd(3, temp_fd(&f3))
        .fd(4, temp_fd(&f4))
        .output();
    out.ok();
    assert_eq!(value(&out.stdout, "fds"), "1");
    assert_eq!(value(&out.stdout, "pid"), "1");
    assert_eq!(fs::read_to_string(&f3).unwrap(), "listen\n");
    assert_eq!(fs::read_to_string(&f4).unwrap(), "preserved\n");
}

/// The permission mask (hex, as /proc/keys prints it) of the session keyring runc names after
/// container `id` ("_ses.<id>"), if the host's /proc/keys lists it. /proc/keys is masked
/// inside the container, so it is read on the host.
fn session_keyring_perm(id: &str) -> Option<u32> {
    let keys = fs::read_to_string("/proc/keys").expect("read /proc/keys");
    let name = format!("_ses.{id}:");
    keys.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // serial flags usage expiry perm uid gid type description: summary
        (f.len() > 8 && f[7] == "keyring" && f[8] == name)
            .then(|| u32::from_str_radix(f[4], 16).expect("hex perm"))
    })
}

#[test]
fn session_keyring_is_named_after_the_id_unless_no_new_keyring() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    b.create().ok();
    let perm = session_keyring_perm(b.id())
        .unwrap_or_else(|| panic!("no keyring _ses.{} in /proc/keys", b.id()));
    // runc adds KEY_USR_SEARCH to the default permissions of the new keyring.
    const KEY_USR_SEARCH: u32 = 0x0008_0000;
    assert_ne!(perm & KEY_USR_SEARCH, 0, "perm {perm:08x}");
    b.delete_force().ok();
    b.assert_no_leftovers();

    let shared = Bundle::new(&rt, &["sleep", "100"]);
    shared.create_with(&["--no-new-keyring"]).ok();
    assert_eq!(shared.status(), "created");
    assert_eq!(
        session_keyring_perm(shared.id()),
        None,
        "--no-new-keyring made a session keyring for {}",
        shared.id()
    );
    shared.delete_force().ok();
    shared.assert_no_leftovers();
}

#[test]
fn a_missing_cwd_is_created_inside_the_rootfs() {
    let Some(rt) = setup() else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| c["process"]["cwd"] = "/not/there/yet".into());
    let out = run_script(&b, "echo cwd=$(pwd)");
    assert_eq!(value(&out, "cwd"), "/not/there/yet");
    assert!(b.rootfs().join("not/there/yet").is_dir());
}
