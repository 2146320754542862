//! Container status and the operations each status allows (runtime.md, "Lifecycle").

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is still running (lifecycle step 2).
    Creating,
    /// Init waits for `start`; the user program has not been executed.
    Created,
    /// The user program runs.
    Running,
    /// The cgroup is frozen.
    Paused,
    /// The container process has exited.
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

impl Status {
    /// `start` runs the user program of a created container only.
    pub fn can_start(self) -> bool {
        self == Status::Created
    }

    /// Signals reach a container whose process exists.
    pub fn can_kill(self) -> bool {
        matches!(self, Status::Created | Status::Running | Status::Paused)
    }

    /// Without --force only a stopped container may be deleted. A container whose `create` died
    /// half-way ("creating" with no live creator) needs --force too, as in runc.
    pub fn can_delete(self) -> bool {
        self == Status::Stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_the_lifecycle() {
        use Status::*;
        let all = [Creating, Created, Running, Paused, Stopped];
        let startable: Vec<_> = all.iter().filter(|s| s.can_start()).collect();
        assert_eq!(startable, [&Created]);
        let killable: Vec<_> = all.iter().filter(|s| s.can_kill()).collect();
        assert_eq!(killable, [&Created, &Running, &Paused]);
        let deletable: Vec<_> = all.iter().filter(|s| s.can_delete()).collect();
        assert_eq!(deletable, [&Stopped]);
    }

    #[test]
    fn serialises_lowercase() {
        assert_eq!(
            serde_json::to_string(&Status::Created).unwrap(),
            "\"created\""
        );
        assert_eq!(Status::Stopped.to_string(), "stopped");
    }
}
