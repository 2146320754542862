//! `exec`: the process to run (from --process or the command line and flags, over the
//! container's own process), started in the container, waited for unless --detach.

use std::path::Path;

use anyhow::Context;
use oci_spec::runtime::{Capability, Process, User};

use super::foreground;
use crate::cli::ExecArgs;
use crate::container::exec::{self, ExecRequest};
use crate::container::Container;

/// runc exits 255 when exec itself fails (as opposed to the process's own exit status).
pub const EXEC_FAILED: u8 = 255;

pub fn exec(root: &Path, a: &ExecArgs) -> anyhow::Result<u8> {
    match run(root, a) {
        Ok(code) => Ok(code),
        Err(e) => {
            log::error!("exec failed: {}", crate::error_message(&e));
            Ok(EXEC_FAILED)
        }
    }
}

fn run(root: &Path, a: &ExecArgs) -> anyhow::Result<u8> {
    let c = Container::peek(root, &a.id)?;
    let process = process(&c, a)?;
    let req = ExecRequest {
        process,
        console_socket: a
            .console_socket
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
        pid_file: a
            .pid_file
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
        pidfd_socket: a
            .pidfd_socket
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
        detach: a.detach,
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
        sub_cgroups: a.cgroup.clone(),
    };
    let guard = (!a.detach).then(foreground::block_signals).transpose()?;
    let started = exec::exec(&c, &req)?;
    match guard {
        None => Ok(0),
        Some(guard) => foreground::supervise(started.pid, &guard, started.console),
    }
}

/// runc's rules: --process replaces everything; otherwise the container's process with the
/// command line's args, terminal, and whatever flags were given.
fn process(c: &Container, a: &ExecArgs) -> anyhow::Result<Process> {
    if let Some(path) = &a.process {
        return Ok(runtime_spec::load_process(path)?);
    }
    if a.command.is_empty() {
        anyhow::bail!("exec args cannot be empty");
    }
    let mut p = c.record.config.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if !a.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        env.extend(a.env.iter().cloned());
        p.set_env(Some(env));
    }
    if let Some(user) = &a.user {
        p.set_user(parse_user(user, p.user())?);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &a.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &a.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let name = if name.starts_with("CAP_") {
                name.clone()
            } else {
                format!("CAP_{name}")
            };
            let cap: Capability = serde_json::from_value(serde_json::Value::String(name.clone()))
                .with_context(|| format!("unknown capability {name:?}"))?;
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.insert(cap);
                Some(set)
            };
            let (b, e, pm) = (
                add(caps.bounding()),
                add(caps.effective()),
                add(caps.permitted()),
            );
            caps.set_bounding(b);
            caps.set_effective(e);
            caps.set_permitted(pm);
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

/// `UID[:GID]`; the gid stays the process's when omitted.
fn parse_user(s: &str, current: &User) -> anyhow::Result<User> {
    let mut user = current.clone();
    let (uid, gid) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    user.set_uid(
        uid.parse()
            .with_context(|| format!("parsing {uid:?} as a uid"))?,
    );
    if let Some(g) = gid {
        user.set_gid(
            g.parse()
                .with_context(|| format!("parsing {g:?} as a gid"))?,
        );
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_with_and_without_gid() {
        let base = User::default();
        let u = parse_user("1000:1001", &base).unwrap();
        assert_eq!((u.uid(), u.gid()), (1000, 1001));
        let u = parse_user("7", &u).unwrap();
        assert_eq!((u.uid(), u.gid()), (7, 1001));
        assert!(parse_user("x", &base).is_err());
    }
}
