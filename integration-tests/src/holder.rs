//! A host process holding namespaces for containers to join by path.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::procfs::ns_link;
use crate::wait_for;

/// `unshare <flags> sleep 1000` on the host, with `--fork` when a pid (or time) namespace is asked, so
/// [`Holder::pid`] is the process inside every new namespace. Killed by PID on drop.
pub struct Holder {
    child: Child,
    pid: i32,
}

impl Holder {
    /// `flags` are util-linux unshare flags such as "--net" or "--pid".
    pub fn spawn(flags: &[&str]) -> Holder {
        let fork = flags.contains(&"--pid") || flags.contains(&"--fork");
        let mut cmd = Command::new("unshare");
        cmd.args(flags.iter().filter(|f| **f != "--fork"));
        if fork {
            cmd.args(["--fork", "--kill-child"]);
        }
        cmd.args(["sleep", "1000"]).stdin(Stdio::null());
        let child = cmd.spawn().expect("spawn unshare");
        let outer = child.id() as i32;
        let pid = wait_for(
            "the namespace holder to exec sleep",
            Duration::from_secs(10),
            || {
                let pid = if fork {
                    let children =
                        std::fs::read_to_string(format!("/proc/{outer}/task/{outer}/children"))
                            .ok()?;
                    children.split_whitespace().next()?.parse().ok()?
                } else {
                    outer
                };
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                cmd.starts_with(b"sleep\0").then_some(pid)
            },
        );
        Holder { child, pid }
    }

    /// The pid (on the host) of the process inside the namespaces.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// `/proc/<pid>/ns/<ns>`, the path a config's namespace entry joins.
    pub fn ns_path(&self, ns: &str) -> String {
        format!("/proc/{}/ns/{ns}", self.pid)
    }

    /// What readlink says of the namespace ("net:[4026...]").
    pub fn ns_link(&self, ns: &str) -> String {
        ns_link(&self.pid.to_string(), ns)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
