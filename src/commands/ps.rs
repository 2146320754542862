//! `ps`, `pause`, `resume`.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use crate::cli::{PsArgs, PsFormat};
use crate::container::{self, Container, Status};

#[derive(Debug, thiserror::Error)]
pub enum PsError {
    #[error("couldn't find PID field in ps output")]
    NoPidColumn,
    #[error("unable to parse pid: {0:?}")]
    BadPid(String),
    #[error("run ps: {0}")]
    Spawn(std::io::Error),
    #[error("exit status {code}: {output}")]
    Failed { code: String, output: String },
}

/// The processes of the container's cgroup; without a recorded cgroup, the live init alone.
fn container_pids(c: &Container) -> anyhow::Result<Vec<i32>> {
    if let Some(cg) = c.cgroup() {
        return Ok(cg.processes()?);
    }
    let alive = !matches!(c.status(), Status::Stopped | Status::Creating);
    Ok(c.pid()
        .filter(|_| alive)
        .map(|p| p.as_raw())
        .into_iter()
        .collect())
}

pub fn ps(root: &Path, a: &PsArgs) -> anyhow::Result<()> {
    let c = Container::peek(root, &a.id)?;
    let pids = container_pids(&c)?;
    let mut stdout = std::io::stdout().lock();
    match a.format {
        // runc encodes a Go nil slice: `null` for a container without processes.
        PsFormat::Json if pids.is_empty() => writeln!(stdout, "null")?,
        PsFormat::Json => writeln!(stdout, "{}", serde_json::to_string(&pids)?)?,
        PsFormat::Table => {
            let args: Vec<&str> = if a.ps_args.is_empty() {
                vec!["-ef"]
            } else {
                a.ps_args.iter().map(String::as_str).collect()
            };
            let output = run_ps(&args)?;
            write!(stdout, "{}", filter_ps(&output, &pids)?)?;
        }
    }
    Ok(())
}

/// Runs the host's ps(1); its stdout, or an error carrying everything it printed.
fn run_ps(args: &[&str]) -> Result<String, PsError> {
    let out = Command::new("ps")
        .args(args)
        .output()
        .map_err(PsError::Spawn)?;
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        all.push_str(&String::from_utf8_lossy(&out.stderr));
        let code = out
            .status
            .code()
            .map_or_else(|| format!("{:?}", out.status), |c| c.to_string());
        return Err(PsError::Failed { code, output: all });
    }
    Ok(all)
}

/// Keeps ps's header and the rows whose PID column (found by name in the header) is one of
/// `pids`, as runc does.
pub fn filter_ps(output: &str, pids: &[i32]) -> Result<String, PsError> {
    let mut lines = output.split('\n');
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or(PsError::NoPidColumn)?;
    let mut out = format!("{header}\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let field = line.split_whitespace().nth(column).unwrap_or_default();
        let pid: i32 = field
            .parse()
            .map_err(|_| PsError::BadPid(field.to_string()))?;
        if pids.contains(&pid) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

pub fn pause(root: &Path, id: &str) -> anyhow::Result<()> {
    let mut c = Container::load(root, id)?;
    container::pause::pause(&mut c)?;
    Ok(())
}

pub fn resume(root: &Path, id: &str) -> anyhow::Result<()> {
    let mut c = Container::load(root, id)?;
    container::pause::resume(&mut c)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS_EF: &str = "\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 20:01 ?        00:00:01 /sbin/init
root        7224       1  0 20:11 ?        00:00:00 sh -c sleep 1000 & i=0
root        7235    7224  0 20:11 ?        00:00:00 sleep 1000
root       72240       1  0 20:11 ?        00:00:00 other
";

    #[test]
    fn rows_of_the_container_and_the_header_stay() {
        let out = filter_ps(PS_EF, &[7224, 7235]).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].starts_with("UID"));
        assert!(lines[1].contains("sh -c sleep"));
        assert!(lines[2].contains("sleep 1000"));
        assert_eq!(filter_ps(PS_EF, &[]).unwrap().lines().count(), 1);
    }

    #[test]
    fn pid_column_is_found_by_name() {
        let out = filter_ps("  PID COMMAND\n 7224 sh\n 9 init\n", &[7224]).unwrap();
        assert_eq!(out, "  PID COMMAND\n 7224 sh\n");
    }

    #[test]
    fn ps_output_without_pid_column_or_with_bad_pid_fails_like_runc() {
        let err = filter_ps("COMMAND\nsh\n", &[1]).unwrap_err();
        assert_eq!(err.to_string(), "couldn't find PID field in ps output");
        let err = filter_ps("PID CMD\nabc sh\n", &[1]).unwrap_err();
        assert!(err.to_string().starts_with("unable to parse pid"), "{err}");
    }

    #[test]
    fn failing_ps_reports_its_output() {
        let err = run_ps(&["--cella-no-such-option"]).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("exit status "), "{text}");
        assert!(text.len() > "exit status 1: ".len(), "{text}");
    }
}
