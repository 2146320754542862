//! OCI hooks: run a program with the container state on stdin, its own env and args, and an
//! optional timeout. The same code runs hooks in the runtime (prestart, createRuntime,
//! poststart, poststop) and inside the container process (createContainer, startContainer).

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::Hook;

use crate::sys::fd::pidfd_open;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("error running {kind} hook #{index} {path:?}: {source}")]
    Spawn {
        kind: &'static str,
        index: usize,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("error running {kind} hook #{index} {path:?}: {status}{output}")]
    Failed {
        kind: &'static str,
        index: usize,
        path: PathBuf,
        status: String,
        output: String,
    },
    #[error("error running {kind} hook #{index} {path:?}: timed out after {secs} seconds")]
    Timeout {
        kind: &'static str,
        index: usize,
        path: PathBuf,
        secs: i64,
    },
}

/// Runs `hooks` in order; the first failure stops the rest.
pub fn run_all(kind: &'static str, hooks: &[Hook], state_json: &str) -> Result<(), HookError> {
    for (index, hook) in hooks.iter().enumerate() {
        run(kind, index, hook, state_json)?;
    }
    Ok(())
}

/// Runs every hook, logging failures as warnings (poststop: runtime.md says to go on).
pub fn run_all_warn(kind: &'static str, hooks: &[Hook], state_json: &str) {
    for (index, hook) in hooks.iter().enumerate() {
        if let Err(e) = run(kind, index, hook, state_json) {
            log::warn!("{e}");
        }
    }
}

fn run(kind: &'static str, index: usize, hook: &Hook, state_json: &str) -> Result<(), HookError> {
    let path = hook.path().clone();
    let spawn_err = |source| HookError::Spawn {
        kind,
        index,
        path: path.clone(),
        source,
    };
    let mut cmd = Command::new(&path);
    let args = hook.args().as_deref().unwrap_or_default();
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(spawn_err)?;
    let pidfd = pidfd_open(nix::unistd::Pid::from_raw(
        i32::try_from(child.id()).expect("pids fit in i32"),
    ))
    .map_err(|e| spawn_err(std::io::Error::from(e)))?;

    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let timeout = hook.timeout().filter(|t| *t > 0);
    if !wait_exit(
        &pidfd,
        timeout.map(|s| Duration::from_secs(s.unsigned_abs())),
    ) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(HookError::Timeout {
            kind,
            index,
            path,
            secs: timeout.unwrap_or(0),
        });
    }
    let status = child.wait().map_err(spawn_err)?;
    if status.success() {
        return Ok(());
    }
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    let status = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (_, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    };
    let output = format!(", stdout: {}, stderr: {}", out.trim_end(), err.trim_end());
    Err(HookError::Failed {
        kind,
        index,
        path,
        status,
        output,
    })
}

/// Waits until the process behind `pidfd` exits; false when `timeout` passed first.
fn wait_exit(pidfd: &std::os::fd::OwnedFd, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let left = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let ms = d
                    .saturating_duration_since(std::time::Instant::now())
                    .as_millis();
                if ms == 0 {
                    return false;
                }
                PollTimeout::try_from(ms.min(60_000) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, left) {
            Ok(0) => {
                if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    return false;
                }
            }
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;

    fn hook(args: &[&str], timeout: Option<i64>) -> Hook {
        let mut b = HookBuilder::default()
            .path("/bin/sh")
            .args(args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .env(vec!["HOOKVAR=v1".to_string()]);
        if let Some(t) = timeout {
            b = b.timeout(t);
        }
        b.build().unwrap()
    }

    #[test]
    fn state_on_stdin_env_and_args() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!("cat > {0}; echo \"$HOOKVAR $0 $1\" >> {0}", out.display());
        let h = hook(&["myhook", "-c", &script, "arg1"], None);
        // With `sh -c SCRIPT NAME ARG`, $0 is NAME.
        let h = HookBuilder::default()
            .path(h.path().clone())
            .args(vec![
                "sh".into(),
                "-c".into(),
                script,
                "n0".into(),
                "arg1".into(),
            ])
            .env(h.env().clone().unwrap())
            .build()
            .unwrap();
        run_all("prestart", &[h], "{\"id\":\"x\"}").unwrap();
        let got = std::fs::read_to_string(out).unwrap();
        assert_eq!(got, "{\"id\":\"x\"}v1 n0 arg1\n");
    }

    #[test]
    fn failure_names_the_hook_and_output() {
        let h = hook(&["sh", "-c", "echo oops >&2; exit 3"], None);
        let e = run_all("createRuntime", &[h], "{}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("createRuntime hook #0"), "{e}");
        assert!(e.contains("exit status 3") && e.contains("oops"), "{e}");
    }

    #[test]
    fn timeout_kills_a_slow_hook() {
        let h = hook(&["sh", "-c", "sleep 5"], Some(1));
        let t = std::time::Instant::now();
        let e = run_all("poststart", &[h], "{}").unwrap_err();
        assert!(matches!(e, HookError::Timeout { secs: 1, .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn missing_binary_is_a_spawn_error() {
        let h = HookBuilder::default()
            .path("/nonexistent/hook")
            .build()
            .unwrap();
        let e = run_all("poststop", &[h], "{}").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/hook"), "{e}");
    }
}
