//! create, start, kill, delete.

use std::path::Path;

use anyhow::Context;

use crate::cli::{CreateArgs, DeleteArgs, KillArgs};
use crate::container::create::{self, CreateRequest};
use crate::container::{self, Container, ContainerError};
use crate::plan::CreateOptions;

pub fn create_request<'a>(
    root: &'a Path,
    a: &'a CreateArgs,
    detached: bool,
) -> anyhow::Result<CreateRequest<'a>> {
    let bundle = match &a.bundle {
        Some(b) => {
            clean(&std::path::absolute(b).with_context(|| format!("bundle path {}", b.display()))?)
        }
        None => std::env::current_dir().context("current directory")?,
    };
    let absolute =
        |p: &std::path::PathBuf| clean(&std::path::absolute(p).unwrap_or_else(|_| p.clone()));
    Ok(CreateRequest {
        root,
        id: &a.id,
        bundle,
        pid_file: a.pid_file.as_ref().map(absolute),
        console_socket: a.console_socket.as_ref().map(absolute),
        pidfd_socket: a.pidfd_socket.as_ref().map(absolute),
        detached,
        opts: CreateOptions {
            no_pivot: a.no_pivot,
            no_new_keyring: a.no_new_keyring,
            preserve_fds: a.preserve_fds,
            listen_fds: listen_fds(),
        },
    })
}

/// `path` without `.` and `..` components, as Go's filepath.Clean (runc records bundles so):
/// the recorded bundle must stay valid when the caller's directory goes away.
fn clean(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// systemd socket activation: LISTEN_FDS counts only when LISTEN_PID is us.
fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !ours {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub fn create(root: &Path, a: &CreateArgs) -> anyhow::Result<()> {
    let req = create_request(root, a, true)?;
    create::create(&req)?;
    Ok(())
}

pub fn start(root: &Path, id: &str) -> anyhow::Result<()> {
    let mut c = Container::load(root, id)?;
    container::start::start(&mut c)?;
    Ok(())
}

pub fn kill(root: &Path, a: &KillArgs) -> anyhow::Result<()> {
    let signal = parse_signal(a.signal.as_deref().unwrap_or("SIGTERM"))?;
    let c = Container::peek(root, &a.id)?;
    container::kill::kill(&c, signal, a.all)?;
    Ok(())
}

pub fn delete(root: &Path, a: &DeleteArgs) -> anyhow::Result<()> {
    let c = match Container::load(root, &a.id) {
        Ok(c) => c,
        // runc: `delete --force` of a missing container succeeds.
        Err(ContainerError::NotExist) if a.force => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    container::delete::delete(&c, a.force)?;
    Ok(())
}

/// A signal by number or name, with or without SIG (as runc's kill).
pub fn parse_signal(s: &str) -> anyhow::Result<nix::sys::signal::Signal> {
    use std::str::FromStr;
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map_err(|_| anyhow::anyhow!("unknown signal {s:?}"));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    nix::sys::signal::Signal::from_str(&name).map_err(|_| anyhow::anyhow!("unknown signal {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_dot_and_dot_dot() {
        assert_eq!(clean(Path::new("/tmp/t/../x/./y")), Path::new("/tmp/x/y"));
        assert_eq!(clean(Path::new("/../a")), Path::new("/a"));
    }

    #[test]
    fn signals_by_name_and_number() {
        use nix::sys::signal::Signal;
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("FOO").is_err());
    }
}
