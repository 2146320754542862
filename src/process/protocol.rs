//! The messages between the runtime (parent) and the container process (child).
//!
//! One SOCK_SEQPACKET socketpair made before the clone; one message per packet, JSON-encoded.
//! The child's end is close-on-exec, so it disappears when the user program starts.
//!
//! | # | when                                   | direction      | message      | answer      |
//! |---|----------------------------------------|----------------|--------------|-------------|
//! | 1 | after clone (into the cgroup2 cgroup, if any) and, if the clone made a user namespace, its ids are mapped | parent -> child | `Continue` | - |
//! | 1b | right after 1, once the container's cgroups are made and their limits written (on cgroup v1 that happens now, while the child mounts; on v2 before the clone) | parent -> child | `Cgroups` (paths) + SCM_RIGHTS fds of the v1 `tasks` files (none on v2) | - |
//! | 1c | the child joins its v1 cgroups itself (`0` to each `tasks` file, cgroups/join.rs), as late as it may: before the fork of the two-stage path, a `cgroup` mount, the late cgroup namespace, any hook, and `Ready` (init.rs `LateJoin`); it takes message 1b then, or earlier when it needs a later message | child | - | - |
//! | 2 | two-stage only: child unshared a user namespace | child -> parent | `MapIds` | `IdsMapped` after the parent wrote uid_map/gid_map of the child |
//! | 2b | the config has idmapped mounts: after 1, or after `IdsMapped` when 2 happens | parent -> child | `Idmapped` + SCM_RIGHTS fds of detached idmapped mounts (made on the host, where that is allowed) | - |
//! | 3 | two-stage only: child forked the container process (CLONE_PARENT); the forker exits | child -> parent | `InitPid` | - |
//! | 4 | mounts are prepared, before pivot_root, and the config has prestart or createRuntime hooks | child -> parent | `RunHooks` | `HooksDone` after the parent ran them |
//! | 4b | process.terminal: the pty is made, after pivot_root | child -> parent | `Console` (the pty's name) + SCM_RIGHTS fd of the master | - |
//! | 4c | the seccomp filter has SCMP_ACT_NOTIFY rules and is installed: init before `Ready`, an exec'd process just before execve | child -> parent | `SeccompListener` + SCM_RIGHTS fd of the listener | `SeccompDone` once the parent sent it to the agent at `listenerPath` |
//! | 5 | everything is set up; the child waits on the start socket | child -> parent | `Ready` | - |
//! | * | any step failed; the child exits after sending | child -> parent | `Error` | - |
//!
//! EOF on the child's side means the runtime died: the child exits (it also has
//! PR_SET_PDEATHSIG until `Ready`). EOF on the parent's side before `Ready` means the child
//! died without a word; the parent reports its wait status.
//!
//! After `Ready` the runtime may exit. `start` connects to the listening socket `start.sock`
//! (made before the clone): it writes one byte; the child runs the startContainer hooks and
//! execs. The accepted connection is close-on-exec, so `start` reads EOF on success, or an
//! error text when a hook or execve failed.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToChild {
    Continue,
    /// Paths of the v1 `tasks` files attached to this message, in order.
    Cgroups(Vec<std::path::PathBuf>),
    IdsMapped,
    /// Mount indices of the fds attached to this message.
    Idmapped(Vec<usize>),
    HooksDone,
    /// The seccomp listener reached the agent; the child closes its copy and goes on.
    SeccompDone,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromChild {
    MapIds,
    InitPid(i32),
    RunHooks,
    /// The pty's name; the master travels as the attached fd.
    Console(String),
    /// The seccomp notification listener travels as the attached fd.
    SeccompListener,
    Ready,
    Error(ChildError),
}

/// A failed step of the child, rebuilt in the parent as one clear error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ChildError {
    /// The init step that failed ("mount", "setns", "exec"...).
    pub step: String,
    pub errno: Option<i32>,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let e = FromChild::Error(ChildError {
            step: "exec".into(),
            errno: Some(2),
            message: "exec: \"/bin/nope\": no such file or directory".into(),
        });
        let s = serde_json::to_vec(&e).unwrap();
        assert_eq!(serde_json::from_slice::<FromChild>(&s).unwrap(), e);
        let s = serde_json::to_vec(&FromChild::InitPid(42)).unwrap();
        assert_eq!(
            serde_json::from_slice::<FromChild>(&s).unwrap(),
            FromChild::InitPid(42)
        );
    }
}
