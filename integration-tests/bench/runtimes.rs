//! The runtimes compared: where their binaries are, their versions, how to install the ones
//! that are missing, and the command line of one call.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The runtimes the bench knows, in report order. cella comes first: every ratio is against it.
pub const NAMES: &[&str] = &["cella", "runc", "crun", "youki"];

/// How to get a runtime that is not installed.
pub fn install_hint(name: &str) -> &'static str {
    match name {
        "cella" => "cargo build --release --bin cella (or scripts/bench.sh, which builds it)",
        "runc" => "apt-get install -y runc",
        "crun" => "apt-get install -y crun",
        "youki" => "cargo install youki --features v1 (about 2 minutes; v1 is needed on cgroup v1)",
        _ => "",
    }
}

/// One runtime under comparison and its private state root.
pub struct Runtime {
    pub name: &'static str,
    pub bin: PathBuf,
    pub version: String,
    /// `--root`: each runtime keeps its state apart from the others and from the host's.
    pub root: PathBuf,
}

impl Runtime {
    pub fn new(name: &'static str, bin: PathBuf, work: &Path) -> Runtime {
        let version = version(name, &bin);
        Runtime {
            name,
            root: work.join(name).join("state"),
            bin,
            version,
        }
    }

    /// `<bin> --root <root> <args...>`.
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        c
    }
}

/// The binary of `name`: `explicit` when given, else the first executable `name` on PATH.
/// For cella, also the workspace's release then debug build.
pub fn locate(name: &str, explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return is_executable(p).then(|| p.to_owned());
    }
    if name == "cella" {
        for profile in ["release", "debug"] {
            let p = target_dir().join(profile).join("cella");
            if is_executable(&p) {
                return Some(p);
            }
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) if Path::new(&t).is_absolute() => PathBuf::from(t),
        Some(t) => workspace.join(t),
        None => workspace.join("target"),
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A one-line version: the first line of `--version` (`runc version 1.1.5+ds1`), plus the
/// commit line when there is one, and for cella the git revision of this checkout.
fn version(name: &str, bin: &Path) -> String {
    let out = Command::new(bin).arg("--version").output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut v = lines.next().unwrap_or("unknown version").to_owned();
    if let Some(commit) = lines.find(|l| l.starts_with("commit:")) {
        v = format!("{v} ({commit})");
    }
    if name == "cella" {
        if let Some(rev) = git_revision() {
            v = format!("{v} (git {rev})");
        }
    }
    v
}

fn git_revision() -> Option<String> {
    let out = Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ])
        .output()
        .ok()?;
    let rev = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !rev.is_empty()).then_some(rev)
}
