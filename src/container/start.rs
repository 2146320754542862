//! `start`: let the waiting container process execute the user program.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use nix::sys::signal::{kill, Signal};

use super::{Container, ContainerError, Lifecycle, Status, START_SOCKET};
use crate::hooks;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("cannot start a container that has stopped")]
    Stopped,
    #[error("cannot start an already running container")]
    Running,
    #[error("cannot start a container in the {0} state")]
    WrongState(Status),
    #[error("connect to {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Poststart(hooks::HookError),
}

pub fn start(c: &mut Container) -> Result<(), StartError> {
    let status = c.status();
    if !status.can_start() {
        return Err(match status {
            Status::Stopped => StartError::Stopped,
            Status::Running => StartError::Running,
            other => StartError::WrongState(other),
        });
    }
    let sock = c.dir.join(START_SOCKET);
    let addr = super::socket_address(&c.dir, START_SOCKET);
    let conn = addr.and_then(|a| UnixStream::connect(&a.path));
    let mut conn = conn.map_err(|source| match source.raw_os_error() {
        Some(libc::ECONNREFUSED | libc::ENOENT) => StartError::Stopped,
        _ => StartError::Connect {
            path: sock.display().to_string(),
            source,
        },
    })?;
    // The socket file's absence is what makes the status "running" from now on.
    let _ = std::fs::remove_file(&sock);
    conn.write_all(&[0])
        .map_err(|e| StartError::Failed(format!("signal container process: {e}")))?;
    // EOF when execve closed the connection; text when a startContainer hook or execve failed.
    let mut reply = String::new();
    let _ = conn.read_to_string(&mut reply);
    if !reply.is_empty() {
        c.record.status = Status::Stopped;
        c.save()?;
        return Err(StartError::Failed(reply));
    }
    log::debug!("container {} started", c.id());
    c.record.status = Status::Running;
    c.save()?;

    let hooks = c.record.config.hooks().clone().unwrap_or_default();
    if let Some(poststart) = hooks.poststart().as_ref().filter(|h| !h.is_empty()) {
        let state = super::state_doc(c, Status::Running).to_oci_json();
        if let Err(e) = hooks::run_all("poststart", poststart, &state) {
            // runtime.md: a failed poststart hook stops the container.
            if let Some(pid) = c.pid() {
                let _ = kill(pid, Signal::SIGKILL);
            }
            return Err(StartError::Poststart(e));
        }
    }
    Ok(())
}
