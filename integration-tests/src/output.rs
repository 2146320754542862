//! What a call of the runtime left behind: exit status and captured output.

use std::fmt;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// The result of one runtime call. stdout/stderr are read from files (not pipes) because the
/// container inherits the runtime's stdio and may outlive it.
#[derive(Clone)]
pub struct Output {
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The files behind stdout/stderr: a detached container keeps writing to them.
    pub stdout_file: PathBuf,
    pub stderr_file: PathBuf,
}

impl Output {
    /// The exit code; `None` when the runtime itself died of a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// stdout as it is now, including what the container wrote after the runtime exited.
    pub fn stdout_now(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.stdout_file).unwrap_or_default()).into_owned()
    }

    /// Waits until `pred` holds for [`Output::stdout_now`]; panics after `timeout` showing
    /// what the container wrote so far.
    #[track_caller]
    pub fn wait_stdout(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) {
        let start = Instant::now();
        while !pred(&self.stdout_now()) {
            if start.elapsed() > timeout {
                let err = fs::read(&self.stderr_file).unwrap_or_default();
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.stdout_now(),
                    String::from_utf8_lossy(&err)
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with the whole output when the call failed.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "expected success:\n{self:?}");
        self
    }

    /// Panics with the whole output when the call succeeded.
    #[track_caller]
    pub fn failed(&self) -> &Self {
        assert!(!self.success(), "expected failure:\n{self:?}");
        self
    }

    /// Panics unless stderr (or stdout) contains `needle`, case-insensitively.
    #[track_caller]
    pub fn says(&self, needle: &str) -> &Self {
        let all = format!("{}\n{}", self.stderr, self.stdout).to_lowercase();
        assert!(
            all.contains(&needle.to_lowercase()),
            "expected {needle:?} in output:\n{self:?}"
        );
        self
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.args.join(" "))?;
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => writeln!(f, "exit code: {c}")?,
            (None, Some(s)) => writeln!(f, "killed by signal {s}")?,
            _ => writeln!(f, "status: {:?}", self.status)?,
        }
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// A runtime process still running (foreground `run`, or a call the test interrupts). Killed
/// by its PID on drop if the test did not wait for it.
pub struct Running {
    pub(crate) child: Option<Child>,
    pub(crate) args: Vec<String>,
    pub(crate) stdout: PathBuf,
    pub(crate) stderr: PathBuf,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// What the runtime (and the container, which inherits it) wrote to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.stdout).unwrap_or_default()).into_owned()
    }

    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.stderr).unwrap_or_default()).into_owned()
    }

    /// Waits until stdout contains `needle`; panics after `timeout` or if the runtime exits
    /// first.
    pub fn wait_stdout(&mut self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            if self.stdout_so_far().contains(needle) {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                if !self.stdout_so_far().contains(needle) {
                    panic!(
                        "runtime exited ({status:?}) before printing {needle:?}:\n{}\n{}",
                        self.stdout_so_far(),
                        self.stderr_so_far()
                    );
                }
                return;
            }
            if start.elapsed() > timeout {
                panic!(
                    "no {needle:?} on stdout after {timeout:?}:\n{}\n{}",
                    self.stdout_so_far(),
                    self.stderr_so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends `sig` to the runtime process itself.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig)
            .expect("signal the runtime");
    }

    /// Whether the runtime process has exited (it is reaped then).
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    /// Waits for the runtime to exit; after `timeout` it is SIGKILLed and the test fails.
    pub fn wait(self, timeout: Duration) -> Output {
        self.finish(timeout).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Running::wait`] but returns the hang as an error instead of panicking (for
    /// cleanup code in `Drop`).
    pub fn finish(mut self, timeout: Duration) -> Result<Output, String> {
        let mut child = self.child.take().expect("child");
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => return Err(format!("wait for {}: {e}", self.args.join(" "))),
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "runtime hung for {timeout:?}, killed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.args.join(" "),
                    self.stdout_so_far(),
                    self.stderr_so_far()
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        Ok(Output {
            args: self.args.clone(),
            status,
            stdout: self.stdout_so_far(),
            stderr: self.stderr_so_far(),
            stdout_file: self.stdout.clone(),
            stderr_file: self.stderr.clone(),
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
