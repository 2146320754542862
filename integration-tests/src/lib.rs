//! Black-box tests of a runc-compatible runtime binary.
//!
//! The runtime under test is a parameter: `CELLA_RUNTIME=/usr/sbin/runc cargo test -p
//! integration-tests` runs the same tests against runc, which proves the tests right before
//! cella can pass them. Without `CELLA_RUNTIME` the workspace's `target/debug/cella` is used
//! (honouring `CARGO_TARGET_DIR`); build it first with `cargo build --bin cella`.
//!
//! Every test is self-contained: it gets its own `--root` state directory ([`Runtime::new`]),
//! its own bundle with a busybox rootfs ([`Bundle::new`]) and a unique container id
//! (`cella-test-<pid>-<n>`), so tests run in parallel and the default cgroup paths never clash.
//! Dropping a [`Bundle`] force-deletes its container and removes the temporary directories.

pub mod attack;
mod bundle;
mod console;
pub mod containerd;
pub mod engine_image;
pub mod engines_pd;
mod holder;
mod hooks;
pub mod hostbin;
mod hostdir;
mod leftovers;
mod output;
mod probe;
pub mod procfs;
mod requires;
mod runtime;

pub use bundle::{base_config, Bundle, DEFAULT_CAPS};
pub use console::{read_pty_until, ConsoleMessage, ConsoleSocket};
pub use holder::Holder;
pub use hooks::HookRecorder;
pub use hostdir::HostDir;
pub use leftovers::leftovers;
pub use output::{Output, Running};
pub use probe::{run_script, setup, setup_with, value};
pub use requires::{requires, Req};
pub use runtime::{unique_id, Runtime};

use std::time::{Duration, Instant};

/// Polls `f` every few milliseconds until it returns `Some`, or panics after `timeout` with
/// `what` in the message.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The default time limit for one call of the runtime; a hung runtime is killed after it.
pub const RUNTIME_TIMEOUT: Duration = Duration::from_secs(30);
