//! The pieces nearly every test uses: the gate, and a busybox script run in a container
//! whose `key=value` lines the test reads.

use crate::{requires, Bundle, Req, Runtime};

/// The runtime under test when the test can run here (as root), None (test skipped) otherwise.
pub fn setup() -> Option<Runtime> {
    setup_with(&[])
}

/// Like [`setup`], with more requirements.
pub fn setup_with(more: &[Req]) -> Option<Runtime> {
    let mut reqs = vec![Req::Root];
    reqs.extend_from_slice(more);
    requires(&reqs).then(Runtime::new)
}

/// Writes `script` as /probe.sh, runs a container of `b` (whose args run /probe.sh) to its
/// end, and returns its stdout; the run must succeed.
pub fn run_script(b: &Bundle, script: &str) -> String {
    b.script("/probe.sh", script);
    let out = b.run();
    out.ok();
    out.stdout
}

/// The value of the `key=value` line a probe printed.
#[track_caller]
pub fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in the probe's output:\n{out}"))
}
