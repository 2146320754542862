//! The scripts in examples/ run to the end against the runtime under test: the README points
//! users at them, so they must not rot. Each script builds its own bundles and cleans up; the
//! network example makes its own network namespaces (cella only: it uses cella's built-in
//! networking).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use integration_tests::{requires, Req, Runtime};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .join("run.sh")
}

/// Runs examples/NAME/run.sh with the runtime under test and the workspace's cella-rootfs.
fn runs_to_the_end(name: &str) {
    if !requires(&[Req::Root]) {
        return;
    }
    let rt = Runtime::new();
    let out = Command::new("bash")
        .arg(example(name))
        .env("CELLA", rt.bin())
        .env(
            "CELLA_ROOTFS",
            integration_tests::engine_image::rootfs_tool(),
        )
        .stdin(Stdio::null())
        .output()
        .expect("run the example");
    assert!(
        out.status.success(),
        "examples/{name}/run.sh against {} ended with {}\n--- stdout ---\n{}--- stderr ---\n{}",
        rt.bin().display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn hello() {
    runs_to_the_end("hello");
}

#[test]
fn three_guests() {
    runs_to_the_end("three-guests");
}

#[test]
fn image() {
    runs_to_the_end("image");
}

#[test]
fn network() {
    if !Runtime::new().is_cella() {
        eprintln!("SKIPPED: built-in networking is cella's own");
        return;
    }
    runs_to_the_end("network");
}
