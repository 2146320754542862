//! Container status and the operations each status allows (runtime.md, "Lifecycle").

pub use runtime_spec::Status;

/// What each status allows.
pub trait Lifecycle {
    /// `start` runs the user program of a created container only.
    fn can_start(self) -> bool;
    /// Signals reach a container whose process exists.
    fn can_kill(self) -> bool;
    /// Without --force only a stopped container may be deleted (runtime.md: deleting one that
    /// is not stopped MUST fail; runc 1.1 also deletes a created one).
    fn can_delete(self) -> bool;
}

impl Lifecycle for Status {
    fn can_start(self) -> bool {
        self == Status::Created
    }

    fn can_kill(self) -> bool {
        matches!(self, Status::Created | Status::Running | Status::Paused)
    }

    fn can_delete(self) -> bool {
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
}
