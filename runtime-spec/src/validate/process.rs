//! `process`: what to run and with which credentials and limits.

use oci_spec::runtime::{LinuxSchedulerPolicy, Process, Spec};

use super::{invalid, ValidationError};

pub(super) fn check(spec: &Spec) -> Result<(), ValidationError> {
    // The spec makes `process` optional, but `create` cannot do anything without it; runc
    // refuses it at load with the same words.
    let Some(process) = spec.process() else {
        return Err(invalid("process", "process property must not be empty"));
    };
    validate_process(process)
}

/// The checks on a `process` object alone, for `exec --process`; errors name the fields as
/// `process.*`. (Whether its ids are mapped in the container's user namespace depends on the
/// container's config and is checked by [`validate`](super::validate) for the init process.)
pub fn validate_process(process: &Process) -> Result<(), ValidationError> {
    check_args(process)?;
    check_cwd(process)?;
    for (i, entry) in process.env().iter().flatten().enumerate() {
        check_env_entry(&format!("process.env[{i}]"), entry)?;
    }
    check_rlimits(process)?;
    check_user(process)?;
    if let Some(adj) = process
        .oom_score_adj()
        .filter(|adj| !(-1000..=1000).contains(adj))
    {
        return Err(invalid(
            "process.oomScoreAdj",
            format!("oomScoreAdj {adj} is out of range -1000 to 1000"),
        ));
    }
    check_scheduler(process)?;
    if let Some(prio) = process.io_priority() {
        let level = prio.priority();
        if !(0..=7).contains(&level) {
            return Err(invalid(
                "process.ioPriority.priority",
                format!("priority {level} is out of range 0 to 7"),
            ));
        }
    }
    Ok(())
}

fn check_args(process: &Process) -> Result<(), ValidationError> {
    let args = process.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        return Err(invalid("process.args", "args must not be empty"));
    }
    for (i, arg) in args.iter().enumerate() {
        if arg.contains('\0') {
            return Err(invalid(
                format!("process.args[{i}]"),
                "argument contains a nul byte",
            ));
        }
    }
    if args[0].is_empty() {
        return Err(invalid(
            "process.args[0]",
            "the program to run must not be empty",
        ));
    }
    Ok(())
}

fn check_cwd(process: &Process) -> Result<(), ValidationError> {
    let cwd = process.cwd();
    if cwd.as_os_str().is_empty() {
        return Err(invalid("process.cwd", "cwd property must not be empty"));
    }
    if !cwd.is_absolute() {
        return Err(invalid(
            "process.cwd",
            format!("cwd {cwd:?} must be an absolute path"),
        ));
    }
    Ok(())
}

/// An environment entry must be `NAME=VALUE` with a non-empty name and no nul byte (they are
/// passed to execve(2) as C strings).
pub(super) fn check_env_entry(field: &str, entry: &str) -> Result<(), ValidationError> {
    if entry.contains('\0') {
        return Err(invalid(
            field,
            format!("environment variable {entry:?} contains a nul byte"),
        ));
    }
    match entry.split_once('=') {
        None => Err(invalid(
            field,
            format!("{entry:?} is not of the form NAME=VALUE"),
        )),
        Some(("", _)) => Err(invalid(
            field,
            format!("environment variable {entry:?} has an empty name"),
        )),
        Some(_) => Ok(()),
    }
}

fn check_rlimits(process: &Process) -> Result<(), ValidationError> {
    let mut seen = Vec::new();
    for (i, rlimit) in process.rlimits().iter().flatten().enumerate() {
        let typ = rlimit.typ();
        if seen.contains(&typ) {
            return Err(invalid(
                format!("process.rlimits[{i}].type"),
                format!("duplicate rlimit type {typ}"),
            ));
        }
        seen.push(typ);
        if rlimit.soft() > rlimit.hard() {
            return Err(invalid(
                format!("process.rlimits[{i}]"),
                format!(
                    "soft limit {} is greater than hard limit {} for {typ}",
                    rlimit.soft(),
                    rlimit.hard()
                ),
            ));
        }
    }
    Ok(())
}

fn check_user(process: &Process) -> Result<(), ValidationError> {
    if let Some(umask) = process.user().umask().filter(|m| *m > 0o777) {
        return Err(invalid(
            "process.user.umask",
            format!("umask {umask:#o} is out of range 0 to 0o777"),
        ));
    }
    Ok(())
}

/// The rules of sched_setattr(2), as far as they depend on the config alone.
fn check_scheduler(process: &Process) -> Result<(), ValidationError> {
    let Some(sched) = process.scheduler() else {
        return Ok(());
    };
    let policy = *sched.policy();
    let realtime = matches!(
        policy,
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
    );
    let deadline = policy == LinuxSchedulerPolicy::SchedDeadline;
    if policy == LinuxSchedulerPolicy::SchedIso {
        return Err(invalid(
            "process.scheduler.policy",
            "SCHED_ISO is not implemented by Linux",
        ));
    }
    if let Some(nice) = sched.nice().filter(|n| !(-20..=19).contains(n)) {
        return Err(invalid(
            "process.scheduler.nice",
            format!("invalid scheduler.nice: {nice}"),
        ));
    }
    let priority = sched.priority().unwrap_or(0);
    if realtime && !(1..=99).contains(&priority) {
        return Err(invalid(
            "process.scheduler.priority",
            format!("priority {priority} is out of range 1 to 99 for {policy}"),
        ));
    }
    if !realtime && priority != 0 {
        return Err(invalid(
            "process.scheduler.priority",
            "scheduler.priority can only be specified for SchedFIFO or SchedRR policy",
        ));
    }
    let (runtime, dl, period) = (
        sched.runtime().unwrap_or(0),
        sched.deadline().unwrap_or(0),
        sched.period().unwrap_or(0),
    );
    if !deadline && (runtime != 0 || dl != 0 || period != 0) {
        return Err(invalid(
            "process.scheduler",
            "scheduler runtime/deadline/period can only be specified for SchedDeadline policy",
        ));
    }
    // sched_setattr(2): runtime <= deadline <= period (a period of 0 means "same as deadline").
    if deadline && (runtime > dl || (period != 0 && dl > period)) {
        return Err(invalid(
            "process.scheduler",
            format!(
                "SCHED_DEADLINE needs runtime <= deadline <= period, got {runtime}, {dl}, {period}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_refused, check};
    use serde_json::{json, Value};

    #[test]
    fn process_is_required() {
        assert_refused(
            check("/process", Value::Null),
            "process",
            "process property must not be empty",
        );
    }

    #[test]
    fn process_alone_is_validated() {
        let process: oci_spec::runtime::Process = serde_json::from_value(
            json!({"cwd": "/", "args": ["ps"], "user": {"uid": 0, "gid": 0}}),
        )
        .unwrap();
        super::validate_process(&process).unwrap();
        let relative: oci_spec::runtime::Process = serde_json::from_value(
            json!({"cwd": "tmp", "args": ["ps"], "user": {"uid": 0, "gid": 0}}),
        )
        .unwrap();
        let err = super::validate_process(&relative).unwrap_err();
        assert_eq!(err.field, "process.cwd");
    }

    #[test]
    fn args_must_not_be_empty() {
        check("/process/args", json!(["/bin/echo", "hi", ""])).unwrap();
        assert_refused(
            check("/process/args", Value::Null),
            "process.args",
            "args must not be empty",
        );
        assert_refused(
            check("/process/args", json!([])),
            "process.args",
            "args must not be empty",
        );
        assert_refused(
            check("/process/args", json!([""])),
            "process.args[0]",
            "must not be empty",
        );
        assert_refused(
            check("/process/args", json!(["a", "b\u{0}"])),
            "process.args[1]",
            "nul",
        );
    }

    #[test]
    fn cwd_must_be_absolute() {
        check("/process/cwd", json!("/home/user")).unwrap();
        assert_refused(
            check("/process/cwd", json!("")),
            "process.cwd",
            "must not be empty",
        );
        assert_refused(
            check("/process/cwd", json!("home")),
            "process.cwd",
            "absolute path",
        );
    }

    #[test]
    fn env_entries_need_an_equals_sign() {
        check("/process/env", json!(["A=1", "B=", "C==x"])).unwrap();
        assert_refused(
            check("/process/env", json!(["A=1", "B"])),
            "process.env[1]",
            "NAME=VALUE",
        );
        assert_refused(
            check("/process/env", json!(["=x"])),
            "process.env[0]",
            "empty name",
        );
        assert_refused(
            check("/process/env", json!(["A=\u{0}"])),
            "process.env[0]",
            "nul byte",
        );
    }

    #[test]
    fn rlimits_unique_and_soft_at_most_hard() {
        let ok = json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
                        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]);
        check("/process/rlimits", ok).unwrap();
        let dup = json!([{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
                         {"type": "RLIMIT_NOFILE", "soft": 2, "hard": 2}]);
        assert_refused(
            check("/process/rlimits", dup),
            "process.rlimits[1].type",
            "duplicate rlimit type RLIMIT_NOFILE",
        );
        let inverted = json!([{"type": "RLIMIT_NPROC", "soft": 10, "hard": 5}]);
        assert_refused(
            check("/process/rlimits", inverted),
            "process.rlimits[0]",
            "soft limit 10 is greater than hard limit 5",
        );
    }

    #[test]
    fn umask_in_range() {
        check("/process/user/umask", json!(0o22)).unwrap();
        check("/process/user/umask", json!(0o777)).unwrap();
        assert_refused(
            check("/process/user/umask", json!(0o1000)),
            "process.user.umask",
            "out of range",
        );
    }

    #[test]
    fn oom_score_adj_in_range() {
        check("/process/oomScoreAdj", json!(-1000)).unwrap();
        check("/process/oomScoreAdj", json!(1000)).unwrap();
        assert_refused(
            check("/process/oomScoreAdj", json!(1001)),
            "process.oomScoreAdj",
            "1001",
        );
        assert_refused(
            check("/process/oomScoreAdj", json!(-1001)),
            "process.oomScoreAdj",
            "out of range",
        );
    }

    #[test]
    fn io_priority_level_0_to_7() {
        check(
            "/process/ioPriority",
            json!({"class": "IOPRIO_CLASS_IDLE", "priority": 7}),
        )
        .unwrap();
        check(
            "/process/ioPriority",
            json!({"class": "IOPRIO_CLASS_RT", "priority": 0}),
        )
        .unwrap();
        let bad = json!({"class": "IOPRIO_CLASS_BE", "priority": 8});
        assert_refused(
            check("/process/ioPriority", bad),
            "process.ioPriority.priority",
            "0 to 7",
        );
        let negative = json!({"class": "IOPRIO_CLASS_BE", "priority": -1});
        assert_refused(
            check("/process/ioPriority", negative),
            "process.ioPriority.priority",
            "-1",
        );
    }

    #[test]
    fn scheduler_rules() {
        check(
            "/process/scheduler",
            json!({"policy": "SCHED_OTHER", "nice": -5}),
        )
        .unwrap();
        check(
            "/process/scheduler",
            json!({"policy": "SCHED_FIFO", "priority": 10}),
        )
        .unwrap();
        check(
            "/process/scheduler",
            json!({"policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 20, "period": 30}),
        )
        .unwrap();
        check(
            "/process/scheduler",
            json!({"policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 20}),
        )
        .unwrap();
        let field = "process.scheduler";
        assert_refused(
            check(
                "/process/scheduler",
                json!({"policy": "SCHED_OTHER", "nice": 20}),
            ),
            "process.scheduler.nice",
            "invalid scheduler.nice: 20",
        );
        assert_refused(
            check(
                "/process/scheduler",
                json!({"policy": "SCHED_BATCH", "priority": 3}),
            ),
            "process.scheduler.priority",
            "only be specified for SchedFIFO or SchedRR",
        );
        assert_refused(
            check("/process/scheduler", json!({"policy": "SCHED_RR"})),
            "process.scheduler.priority",
            "1 to 99",
        );
        assert_refused(
            check(
                "/process/scheduler",
                json!({"policy": "SCHED_FIFO", "priority": 100}),
            ),
            "process.scheduler.priority",
            "1 to 99",
        );
        assert_refused(
            check(
                "/process/scheduler",
                json!({"policy": "SCHED_OTHER", "runtime": 5}),
            ),
            field,
            "only be specified for SchedDeadline",
        );
        assert_refused(
            check(
                "/process/scheduler",
                json!({"policy": "SCHED_DEADLINE", "runtime": 30, "deadline": 20}),
            ),
            field,
            "runtime <= deadline <= period",
        );
        assert_refused(
            check(
                "/process/scheduler",
                json!({"policy": "SCHED_DEADLINE", "runtime": 1, "deadline": 20, "period": 10}),
            ),
            field,
            "runtime <= deadline",
        );
        assert_refused(
            check("/process/scheduler", json!({"policy": "SCHED_ISO"})),
            "process.scheduler.policy",
            "SCHED_ISO",
        );
    }
}
