//! The device filter on a real cgroup2 directory of this host (at /sys/fs/cgroup/unified on a
//! hybrid host, /sys/fs/cgroup on a unified one): a child moved into it may open /dev/zero but
//! not /dev/null. Skipped unless root and a cgroup2 hierarchy is mounted. The cgroup is named
//! cella-test-bpf-<pid>-<n> and removed, its child killed first, even when the test fails.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::attach_device_filter;
use crate::cgroups::resources::DeviceRule;
use crate::sys::bpf;

struct TestCgroup {
    dir: PathBuf,
    child: Option<Child>,
}

impl TestCgroup {
    fn create() -> Option<TestCgroup> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        // cgroup.controllers exists only in cgroup2 directories.
        let Some(root) = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.join("cgroup.controllers").exists())
        else {
            eprintln!("skipped: no cgroup2 hierarchy mounted");
            return None;
        };
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = root.join(format!("cella-test-bpf-{}-{n}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        Some(TestCgroup { dir, child: None })
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            eprintln!("cleanup of {}: {e}", self.dir.display());
        }
    }
}

fn rule(allow: bool, kind: char, major: Option<u32>, minor: Option<u32>) -> DeviceRule {
    DeviceRule {
        allow,
        kind,
        major,
        minor,
        access: "rwm".to_string(),
    }
}

fn attached(dir: &Path) -> Vec<u32> {
    let fd = std::fs::File::open(dir).unwrap();
    bpf::prog_query(fd.as_fd(), bpf::BPF_CGROUP_DEVICE)
        .unwrap()
        .0
}

#[test]
fn filter_denies_null_and_allows_zero_in_a_real_cgroup() {
    let Some(mut cg) = TestCgroup::create() else {
        return;
    };
    // First a filter that allows everything, then the real one: the second call replaces
    // the first, so exactly one program is left and its rules are the ones that hold.
    attach_device_filter(&cg.dir, &[rule(true, 'a', None, None)]).unwrap();
    let first = attached(&cg.dir);
    assert_eq!(first.len(), 1);
    let rules = [
        rule(false, 'a', None, None),
        rule(true, 'c', Some(1), Some(5)),
    ];
    attach_device_filter(&cg.dir, &rules).unwrap();
    let now = attached(&cg.dir);
    assert_eq!(now.len(), 1, "attached: {now:?}");
    assert_ne!(now, first);

    // The child waits on stdin until it is in the cgroup; its stdio are pipes, not devices.
    let script = "read go; cat /dev/null; echo \"null $?\"; head -c 3 /dev/zero | wc -c";
    let child = cg.child.insert(
        Command::new("/bin/sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    std::fs::write(cg.dir.join("cgroup.procs"), child.id().to_string()).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    drop(stdin);
    let output = cg.child.take().unwrap().wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stdout.split_whitespace().collect::<Vec<_>>(),
        ["null", "1", "3"],
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("Operation not permitted"),
        "stderr: {stderr}"
    );
}

#[test]
fn a_refused_program_reports_the_verifier_log() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // `exit` without setting R0.
    let (errno, log) = super::attach::load(&[bpf::BpfInsn::new(0x95, 0, 0, 0, 0)]).unwrap_err();
    assert_eq!(errno, nix::errno::Errno::EACCES);
    assert!(log.contains("R0 !read_ok"), "{log}");
}

/// Every shape of rule block passes the kernel's verifier.
#[test]
fn the_verifier_accepts_every_kind_of_rule() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let partial = |allow, kind, major, minor, access: &str| DeviceRule {
        access: access.to_string(),
        ..rule(allow, kind, major, minor)
    };
    let lists = [
        vec![],
        vec![rule(false, 'a', None, None)],
        vec![
            rule(true, 'a', None, None),
            partial(false, 'c', Some(1), Some(3), "w"),
        ],
        vec![
            rule(false, 'a', None, None),
            partial(true, 'c', None, None, "m"),
            partial(true, 'b', None, None, "m"),
            rule(true, 'c', Some(136), None),
            partial(true, 'a', Some(1), Some(3), "rw"),
            partial(false, 'b', Some(8), None, "r"),
            rule(true, 'c', Some(u32::MAX), Some(u32::MAX)),
        ],
    ];
    for rules in lists {
        let insns = super::program::device_program(&rules);
        if let Err((errno, log)) = super::attach::load(&insns) {
            panic!("{rules:?}: {errno}{log}");
        }
    }
}
