//! `events`: the container's statistics once (`--stats`) or every `--interval`, and an `oom`
//! line whenever its memory cgroup runs out of memory, one JSON object per line as runc
//! prints them.
//!
//! One thread, one poll(2): on the OOM eventfd (cgroup v1), on a pidfd of the container
//! process (the stream ends when the container stops), with a timeout up to the next
//! statistics line, shortened where something must be polled instead (v2's OOM counter, a
//! kernel without pidfds).

use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::units::interval;
use crate::cgroups::stats::Event;
use crate::cgroups::{Manager, OomWatch};
use crate::cli::EventsArgs;
use crate::container::{Container, Status};

/// How often what has no file descriptor to wait on is looked at.
const POLL_GRANULARITY: Duration = Duration::from_millis(100);

pub fn events(root: &Path, a: &EventsArgs) -> anyhow::Result<()> {
    let c = Container::peek(root, &a.id)?;
    let interval = interval(&a.interval).map_err(|e| anyhow!(e))?;
    if matches!(c.status(), Status::Stopped | Status::Creating) {
        bail!("container with id {} is not running", c.id());
    }
    let cg = c
        .cgroup()
        .ok_or_else(|| anyhow!("container {} has no cgroup", c.id()))?;
    let mut out = io::stdout().lock();
    if a.stats {
        let stats = cg.stats()?;
        emit(
            &mut out,
            &Event {
                kind: "stats",
                id: c.id(),
                data: Some(&stats),
            },
        )?;
        return Ok(());
    }
    let mut oom = cg.watch_oom()?;
    let pidfd = container_pidfd(&c);
    match stream(&c, &cg, &mut oom, pidfd.as_ref(), interval, &mut out) {
        // Whoever reads us went away (`| head`): nothing left to do.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// A pidfd of the container process, checked to be the recorded process (the pid could
/// have been reused between reading the record and opening the pidfd).
fn container_pidfd(c: &Container) -> Option<OwnedFd> {
    let fd = crate::sys::fd::pidfd_open(c.pid()?).ok()?;
    (c.status() != Status::Stopped).then_some(fd)
}

fn stream(
    c: &Container,
    cg: &Manager,
    oom: &mut OomWatch,
    pidfd: Option<&OwnedFd>,
    interval: Duration,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut next = Instant::now() + interval;
    loop {
        let mut wait = next.saturating_duration_since(Instant::now());
        if oom.needs_polling() || pidfd.is_none() {
            wait = wait.min(POLL_GRANULARITY);
        }
        let exited = wait_for(oom, pidfd, wait)?;
        // OOMs first: an OOM kill is often what stopped the container.
        if report_ooms(c, oom, out)? {
            return Ok(());
        }
        let stopped = exited || (pidfd.is_none() && c.status() == Status::Stopped);
        if stopped {
            return Ok(());
        }
        let now = Instant::now();
        if now >= next {
            match cg.stats() {
                Ok(stats) => emit(
                    out,
                    &Event {
                        kind: "stats",
                        id: c.id(),
                        data: Some(&stats),
                    },
                )?,
                // As runc: a failed read is logged, the stream goes on.
                Err(e) => log::error!("{e}"),
            }
            next += interval;
            if next <= now {
                next = now + interval;
            }
        }
    }
}

/// Waits up to `wait` for the OOM eventfd or the pidfd; whether the process exited.
fn wait_for(oom: &OomWatch, pidfd: Option<&OwnedFd>, wait: Duration) -> io::Result<bool> {
    let mut fds = Vec::with_capacity(2);
    if let Some(fd) = oom.fd() {
        fds.push(PollFd::new(fd, PollFlags::POLLIN));
    }
    let pid_index = pidfd.map(|fd| {
        fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        fds.len() - 1
    });
    let millis = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
    let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, timeout) {
        Ok(_) | Err(Errno::EINTR) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(pid_index.is_some_and(|i| fds[i].any().unwrap_or(false)))
}

/// Prints an `oom` line per notification; whether the memory cgroup is gone.
fn report_ooms(c: &Container, oom: &mut OomWatch, out: &mut impl Write) -> io::Result<bool> {
    match oom.check() {
        Ok(check) => {
            for _ in 0..check.ooms {
                emit(
                    out,
                    &Event {
                        kind: "oom",
                        id: c.id(),
                        data: None,
                    },
                )?;
            }
            Ok(check.gone)
        }
        Err(e) => {
            log::error!("{e}");
            Ok(false)
        }
    }
}

fn emit(out: &mut impl Write, event: &Event) -> io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")?;
    out.flush()
}
