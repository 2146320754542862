//! The container process: named steps from clone to execve.
//!
//! Runs in the child of the runtime's clone, single-threaded, with a copy of the runtime's
//! memory. Every failure is sent to the runtime as a [`ChildError`] naming the step, and the
//! process exits; it never returns into the runtime's code.

use std::convert::Infallible;
use std::ffi::CString;
use std::fmt::Display;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};

use nix::errno::Errno;
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::Signal;

use super::attributes::{
    become_root_in_userns, env_with_home, find_program, prepare_fds_and_signals,
    set_process_attributes, switch_user,
};
use crate::cgroups::{CgroupJoin, TasksFile};
use crate::hooks;
use crate::namespaces::NamespacePlan;
use crate::plan::{ExecPlan, Plan, ProcessPlan};
use crate::process::channel::Channel;
use crate::process::protocol::{ChildError, FromChild, ToChild};
use crate::rootfs::IdmappedMounts;
use crate::seccomp::SeccompProgram;
use crate::sys::clone::{clone3, exit_now, Forked};

/// What the child needs besides the plan.
pub struct InitArgs<'a> {
    pub plan: &'a Plan,
    pub chan: Channel,
    pub start: UnixListener,
}

/// Runs the container process; never returns.
pub fn run(args: InitArgs<'_>) -> ! {
    let InitArgs { plan, chan, start } = args;
    close_runtime_fds(&chan, plan.process.extra_fds, &[start.as_raw_fd()]);
    let result = setup(plan, &chan, start);
    report_and_exit(&chan, result)
}

/// Runs a process exec'd into a running container (`cella exec`); never returns. It joins
/// the container's cgroups and namespaces, forks into its pid namespace, and execs; the
/// channel's EOF tells the runtime the program runs.
pub fn run_exec(plan: &ExecPlan, chan: Channel, cgroup_tasks: Vec<TasksFile>) -> ! {
    let keep: Vec<_> = cgroup_tasks.iter().map(TasksFile::raw_fd).collect();
    close_runtime_fds(&chan, plan.process.extra_fds, &keep);
    let result = setup_exec(plan, &chan, cgroup_tasks);
    report_and_exit(&chan, result)
}

/// Moves this process into the container's v1 cgroups.
fn join_cgroups(tasks: Vec<TasksFile>) -> Result<(), ChildError> {
    CgroupJoin::join_v1(tasks).map_err(|e| fail("join cgroup", e))
}

/// The container process's entry into its v1 cgroups, made once, as late as correctness
/// allows: what the runtime's own setup allocates before it (mounts, device nodes, copied
/// heap pages) is not charged to the container, whose limits are for its program. It must
/// come before the fork of the two-stage path (the container process inherits our
/// cgroups), before a `cgroup` mount or the late cgroup namespace (rooted where we are when
/// it is made), before any hook (hooks look the pid's cgroups up), and before `Ready`.
/// The `tasks` files come with the protocol's message 1b, which the runtime sends once it
/// has made the cgroups (on v1 while we mount).
struct LateJoin {
    state: JoinState,
    /// Unshare CLONE_NEWCGROUP right after joining (`NamespacePlan::late_cgroup`).
    cgroup_ns: bool,
}

enum JoinState {
    Awaited,
    Received(Vec<TasksFile>),
    Joined,
}

impl LateJoin {
    /// Takes message 1b off the channel, if not done yet (a later message follows it).
    fn receive(&mut self, chan: &Channel) -> Result<(), ChildError> {
        if !matches!(self.state, JoinState::Awaited) {
            return Ok(());
        }
        match chan.recv_with_fds::<ToChild>() {
            Ok(Some((ToChild::Cgroups(paths), fds))) if paths.len() == fds.len() => {
                let files = paths.into_iter().zip(fds);
                self.state = JoinState::Received(
                    files.map(|(p, fd)| TasksFile::from_parts(p, fd)).collect(),
                );
                Ok(())
            }
            Ok(None) => exit_now(1),
            Ok(Some((other, _))) => Err(fail(
                "protocol",
                format!("expected the cgroups, got {other:?}"),
            )),
            Err(e) => Err(fail("protocol", e)),
        }
    }

    fn now(&mut self, chan: &Channel) -> Result<(), ChildError> {
        self.receive(chan)?;
        let JoinState::Received(tasks) = std::mem::replace(&mut self.state, JoinState::Joined)
        else {
            return Ok(());
        };
        join_cgroups(tasks)?;
        if self.cgroup_ns {
            unshare(CloneFlags::CLONE_NEWCGROUP)
                .map_err(|e| errno_fail("unshare cgroup namespace", e))?;
        }
        Ok(())
    }
}

/// Drops every fd of the runtime's but ours and the log's: the state directory's lock above
/// all, or `start` and `delete` would wait for us.
///
/// Also the first line of defence of the host's cella binary (CVE-2019-5736): until execve
/// this process *is* cella (a clone), so its /proc/PID/exe is the host binary. Made
/// non-dumpable, its /proc entries (exe, fd, mem...) need CAP_SYS_PTRACE over the host's user
/// namespace, which no process of a container with its own user namespace can have. execve
/// makes the user program dumpable again.
fn close_runtime_fds(chan: &Channel, extra_fds: u32, also: &[i32]) {
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        let _ = chan.send(&FromChild::Error(errno_fail("prctl(PR_SET_DUMPABLE)", e)));
        exit_now(1);
    }
    let keep: Vec<_> = [chan.raw_fd()]
        .into_iter()
        .chain(also.iter().copied())
        .chain(crate::logging::log_fd())
        .collect();
    let first = 3 + i32::try_from(extra_fds).unwrap_or(0);
    if let Err(e) = crate::sys::fd::close_from_except(first, &keep) {
        let _ = chan.send(&FromChild::Error(errno_fail("close inherited fds", e)));
        exit_now(1);
    }
}

fn report_and_exit(chan: &Channel, result: Result<Infallible, ChildError>) -> ! {
    let err = match result {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // The runtime may be gone; nothing else to tell then.
    let _ = chan.send(&FromChild::Error(err));
    exit_now(1)
}

fn setup_exec(
    plan: &ExecPlan,
    chan: &Channel,
    cgroup_tasks: Vec<TasksFile>,
) -> Result<Infallible, ChildError> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| errno_fail("prctl(PR_SET_PDEATHSIG)", e))?;
    expect(chan, &ToChild::Continue)?;
    join_cgroups(cgroup_tasks)?;
    enter_namespaces(&plan.ns, chan)?;
    let Prepared {
        program,
        env,
        seccomp,
    } = prepare_process(&plan.process, chan, false)?;
    // The runtime is our parent and waits for us: no parent-death signal for the user program.
    nix::sys::prctl::set_pdeathsig(None).map_err(|e| errno_fail("prctl(PR_SET_PDEATHSIG)", e))?;
    // Last, so that the filter governs the user program and none of our steps. The runtime
    // waits for our execve, so a listener still reaches it.
    if let Some(filter) = seccomp {
        install_seccomp(filter, chan)?;
    }
    let e = nix::unistd::execve(&program, &plan.process.args, &env).unwrap_err();
    Err(errno_fail(&format!("exec {program:?}"), e))
}

/// What [`prepare_process`] leaves to the last steps before execve.
struct Prepared<'a> {
    program: CString,
    env: Vec<CString>,
    /// The seccomp filter, when it is still to be installed.
    seccomp: Option<&'a SeccompProgram>,
}

/// The steps every process takes before execve, init or exec'd: its terminal (on
/// /dev/console for `init` only), attributes, user and capabilities, no_new_privs, the program
/// looked up, fds and signals cleaned.
fn prepare_process<'a>(
    p: &'a ProcessPlan,
    chan: &Channel,
    init: bool,
) -> Result<Prepared<'a>, ChildError> {
    if p.terminal {
        let (master, name) = crate::tty::setup_in_container(p.console_size, init)
            .map_err(|e| fail("set up terminal", e))?;
        chan.send_with_fds(&FromChild::Console(name), &[master.as_raw_fd()])
            .map_err(|e| fail("protocol", e))?;
    }
    let env = env_with_home(p)?;
    set_process_attributes(p)?;
    // While we still hold every capability, and before the filter that might forbid the
    // write; the kernel applies the labels at the user program's execve.
    crate::lsm::set_exec_labels(&p.lsm).map_err(lsm_fail)?;
    let mut seccomp = p.seccomp.as_ref();
    if p.seccomp_before_user_switch() {
        // Without no_new_privs the kernel wants CAP_SYS_ADMIN, which the switch drops.
        if let Some(filter) = seccomp.take() {
            install_seccomp(filter, chan)?;
        }
    }
    switch_user(p)?;
    if p.no_new_privs {
        nix::sys::prctl::set_no_new_privs()
            .map_err(|e| errno_fail("prctl(PR_SET_NO_NEW_PRIVS)", e))?;
    }
    let program = find_program(p)?;
    prepare_fds_and_signals(p)?;
    Ok(Prepared {
        program,
        env,
        seccomp,
    })
}

/// Installs the seccomp filter. A notification listener goes to the runtime, which hands it
/// to the agent and answers; until then the listener is ours alone, so nothing here may
/// make a notified syscall (the compiler refuses NOTIFY for write and sendmsg).
fn install_seccomp(filter: &SeccompProgram, chan: &Channel) -> Result<(), ChildError> {
    let listener = crate::seccomp::install(filter).map_err(|e| ChildError {
        step: "seccomp".into(),
        errno: match e {
            crate::seccomp::SeccompError::Install { errno, .. } => Some(errno as i32),
            _ => None,
        },
        message: e.to_string(),
    })?;
    if let Some(fd) = listener {
        chan.send_with_fds(&FromChild::SeccompListener, &[fd.as_raw_fd()])
            .map_err(|e| fail("protocol", e))?;
        drop(fd);
        expect(chan, &ToChild::SeccompDone)?;
    }
    Ok(())
}

fn lsm_fail(e: crate::lsm::LsmError) -> ChildError {
    ChildError {
        step: "lsm".into(),
        errno: e.errno(),
        message: e.to_string(),
    }
}

pub(super) fn fail(step: &str, e: impl Display) -> ChildError {
    ChildError {
        step: step.to_owned(),
        errno: None,
        message: format!("{step}: {e}"),
    }
}

pub(super) fn errno_fail(step: &str, e: Errno) -> ChildError {
    ChildError {
        step: step.to_owned(),
        errno: Some(e as i32),
        message: format!("{step}: {}", e.desc().to_lowercase()),
    }
}

fn expect(chan: &Channel, want: &ToChild) -> Result<(), ChildError> {
    match chan.recv::<ToChild>() {
        Ok(Some(ref got)) if got == want => Ok(()),
        // The runtime died or broke the protocol: nobody is left to report to.
        Ok(None) => exit_now(1),
        Ok(Some(got)) => Err(fail("protocol", format!("expected {want:?}, got {got:?}"))),
        Err(e) => Err(fail("protocol", e)),
    }
}

fn setup(plan: &Plan, chan: &Channel, start: UnixListener) -> Result<Infallible, ChildError> {
    // Die with the runtime until it has heard `Ready`. Had it died before this line, the
    // channel gives EOF below and we exit then.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| errno_fail("prctl(PR_SET_PDEATHSIG)", e))?;
    expect(chan, &ToChild::Continue)?;
    let h = plan.spec.hooks().clone().unwrap_or_default();
    let has = |hooks: &Option<Vec<oci_spec::runtime::Hook>>| {
        hooks.as_ref().is_some_and(|v| !v.is_empty())
    };
    let mut cgroup = LateJoin {
        state: JoinState::Awaited,
        cgroup_ns: plan.ns.late_cgroup,
    };
    if plan.ns.fork {
        cgroup.now(chan)?;
    }

    log::debug!("namespaces entered");
    enter_namespaces(&plan.ns, chan)?;
    if plan.ns.new_user {
        become_root_in_userns()?;
    }
    if plan.rootfs.has_cgroup_mounts()
        || has(h.prestart())
        || has(h.create_runtime())
        || has(h.create_container())
    {
        cgroup.now(chan)?;
    }
    if let Some(h) = &plan.hostname {
        nix::unistd::sethostname(h.to_str().unwrap_or_default())
            .map_err(|e| errno_fail("sethostname", e))?;
    }
    if let Some(d) = &plan.domainname {
        crate::sys::uts::setdomainname(d).map_err(|e| errno_fail("setdomainname", e))?;
    }

    let idmapped = if plan.rootfs.has_idmapped_mounts() {
        cgroup.receive(chan)?;
        receive_idmapped_mounts(chan)?
    } else {
        IdmappedMounts::default()
    };
    plan.rootfs
        .prepare(idmapped)
        .map_err(|e| fail("prepare rootfs", e))?;
    if has(h.prestart()) || has(h.create_runtime()) {
        chan.send(&FromChild::RunHooks)
            .map_err(|e| fail("protocol", e))?;
        expect(chan, &ToChild::HooksDone)?;
    }
    if let Some(hs) = h.create_container().as_ref().filter(|v| !v.is_empty()) {
        let state = crate::container::create::hook_state(
            plan,
            runtime_spec::Status::Creating,
            nix::unistd::getpid().as_raw(),
        );
        hooks::run_all("createContainer", hs, &state)
            .map_err(|e| fail("createContainer hook", e))?;
    }
    log::debug!("rootfs prepared");
    plan.rootfs.enter().map_err(|e| fail("pivot root", e))?;
    plan.rootfs
        .finalize()
        .map_err(|e| fail("finalize rootfs", e))?;
    cgroup.now(chan)?;

    let p = &plan.process;
    if let Some(name) = &plan.keyring {
        // The keyring made below carries the SELinux process label.
        crate::lsm::set_key_label(&plan.process.lsm).map_err(lsm_fail)?;
        // Without keyring support (or in some user namespaces) runc goes on: so do we.
        if let Err(e) = crate::sys::sched::join_session_keyring(name) {
            if e != Errno::ENOSYS && e != Errno::EPERM {
                return Err(errno_fail("join session keyring", e));
            }
        }
    }
    let Prepared {
        program,
        env,
        mut seccomp,
    } = prepare_process(p, chan, true)?;
    log::debug!("set up; waiting for start");
    // A listener must reach the agent while `create` is still here to pass it on.
    if let Some(filter) = seccomp.filter(|f| f.has_notify) {
        install_seccomp(filter, chan)?;
        seccomp = None;
    }

    // From here the runtime may exit, and we must outlive it.
    nix::sys::prctl::set_pdeathsig(None).map_err(|e| errno_fail("prctl(PR_SET_PDEATHSIG)", e))?;
    chan.send(&FromChild::Ready)
        .map_err(|e| fail("protocol", e))?;

    let (mut conn, _) = loop {
        match start.accept() {
            Ok(c) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(fail("wait for start", e)),
        }
    };
    drop(start);
    let mut byte = [0u8; 1];
    if conn.read_exact(&mut byte).is_err() {
        exit_now(1);
    }
    if let Some(hs) = h.start_container().as_ref().filter(|v| !v.is_empty()) {
        let state = crate::container::create::hook_state(
            plan,
            runtime_spec::Status::Created,
            nix::unistd::getpid().as_raw(),
        );
        if let Err(e) = hooks::run_all("startContainer", hs, &state) {
            report_to_start(&mut conn, &e.to_string());
        }
    }
    // Last, after the startContainer hooks: the filter is for the user program.
    if let Some(filter) = seccomp {
        if let Err(e) = crate::seccomp::install(filter) {
            report_to_start(&mut conn, &e.to_string());
        }
    }
    let e = nix::unistd::execve(&program, &p.args, &env).unwrap_err();
    report_to_start(
        &mut conn,
        &format!("exec {:?}: {}", program, e.desc().to_lowercase()),
    );
}

/// Tells `start` why the container could not start, then exits.
fn report_to_start(conn: &mut UnixStream, msg: &str) -> ! {
    let _ = conn.write_all(msg.as_bytes());
    exit_now(1)
}

fn receive_idmapped_mounts(chan: &Channel) -> Result<IdmappedMounts, ChildError> {
    match chan.recv_with_fds::<ToChild>() {
        Ok(Some((ToChild::Idmapped(indices), fds))) if indices.len() == fds.len() => Ok(
            IdmappedMounts::from_fds(indices.into_iter().zip(fds).collect()),
        ),
        Ok(None) => exit_now(1),
        Ok(Some((other, _))) => Err(fail(
            "protocol",
            format!("expected idmapped mounts, got {other:?}"),
        )),
        Err(e) => Err(fail("protocol", e)),
    }
}

fn enter_namespaces(ns: &NamespacePlan, chan: &Channel) -> Result<(), ChildError> {
    // Every file is opened before the first setns: once in a user namespace, /proc/PID/ns of a
    // non-dumpable process (a created init) is no longer ours to open.
    let files = ns
        .joins
        .iter()
        .map(|join| {
            std::fs::File::open(&join.path)
                .map_err(|e| fail(&format!("open {} namespace {:?}", join.name, join.path), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (join, f) in ns.joins.iter().zip(&files) {
        setns(f, join.kind)
            .map_err(|e| errno_fail(&format!("join {} namespace {:?}", join.name, join.path), e))?;
    }
    drop(files);
    if ns.joins.iter().any(|j| j.kind == CloneFlags::CLONE_NEWUSER) {
        // Joined, not made: the runtime maps nothing, so take the namespace's root as a new
        // one would (our host uid is not necessarily mapped there).
        become_root_in_userns()?;
    }
    let flags = ns.unshare_flags;
    if !flags.is_empty() {
        unshare(flags).map_err(|e| errno_fail("unshare namespaces", e))?;
        if flags.contains(CloneFlags::CLONE_NEWUSER) {
            chan.send(&FromChild::MapIds)
                .map_err(|e| fail("protocol", e))?;
            expect(chan, &ToChild::IdsMapped)?;
        }
    }
    if let Some(offsets) = &ns.time_offsets {
        std::fs::write("/proc/self/timens_offsets", offsets)
            .map_err(|e| fail("write /proc/self/timens_offsets", e))?;
    }
    if ns.fork {
        match clone3(CloneFlags::CLONE_PARENT.bits() as u64, None) {
            Err(e) => return Err(errno_fail("fork container process", e)),
            Ok(Forked::Parent(pid)) => {
                let _ = chan.send(&FromChild::InitPid(pid.as_raw()));
                exit_now(0);
            }
            Ok(Forked::Child) => {
                // The parent-death signal is not inherited; our parent is the runtime again.
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
                    .map_err(|e| errno_fail("prctl(PR_SET_PDEATHSIG)", e))?;
            }
        }
    }
    Ok(())
}
