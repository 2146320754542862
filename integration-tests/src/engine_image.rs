//! What every engine test needs first: a busybox image archive built offline (no registry is
//! reachable) by integration-tests/engines/make-image.sh, and shell quoting for the commands
//! run under `script -c` (engines want a terminal for `-t`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::runtime::workspace_binary;

/// `cella-rootfs` for make-image.sh: `$CELLA_ROOTFS`, else the workspace's debug build.
pub fn rootfs_tool() -> PathBuf {
    workspace_binary("CELLA_ROOTFS", "cella-rootfs")
}

/// Builds the image archive `out` (an OCI layout and a docker archive at once) named
/// `reference`; `cmd` (a JSON array) replaces the default command `sh`. Its scratch files go
/// next to `out`.
pub fn make_image(out: &Path, reference: &str, cmd: Option<&str>) {
    let tool = rootfs_tool();
    assert!(
        tool.is_file(),
        "{} not found: run `cargo build -p rootfs-tools` or set CELLA_ROOTFS",
        tool.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("engines/make-image.sh");
    let mut c = Command::new("bash");
    c.arg(&script).arg(out).arg(reference).arg(&tool);
    if let Some(dir) = out.parent() {
        c.env("TMPDIR", dir);
    }
    if let Some(cmd) = cmd {
        c.env("CELLA_IMAGE_CMD", cmd);
    }
    let o = c
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        o.status.success(),
        "make-image.sh {reference} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Quotes `arg` for sh, leaving plain words as they are.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// `args` as one sh command line.
pub fn shell_line<S: AsRef<str>>(args: &[S]) -> String {
    args.iter()
        .map(|a| shell_quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("/usr/bin/podman"), "/usr/bin/podman");
        assert_eq!(shell_quote("--network=none"), "--network=none");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_line(&["a b", "it's", "x"]), r"'a b' 'it'\''s' x");
    }

    #[test]
    fn sh_reads_back_what_was_quoted() {
        let line = format!(
            "printf '%s|' {}",
            shell_line(&["a b", "it's", "$x", "", "*"])
        );
        let out = Command::new("sh").arg("-c").arg(line).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a b|it's|$x||*|");
    }
}
