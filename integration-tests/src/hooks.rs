//! Hook scripts that record how the runtime called them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Writes hook scripts into a directory and reads back what each run recorded: its stdin
/// (the state JSON), its arguments and its environment. Each record is complete once
/// `<name>.stdin` exists (it is renamed into place last).
pub struct HookRecorder {
    dir: PathBuf,
    shell: String,
}

impl HookRecorder {
    /// Scripts and records in `dir` (created), run by the host's /bin/sh.
    pub fn new(dir: &Path) -> HookRecorder {
        HookRecorder::with_shell(dir, "/bin/sh")
    }

    /// Scripts run by `shell` (e.g. "/bin/sh" inside the container for startContainer, whose
    /// `dir` is then the same directory seen from the container).
    pub fn with_shell(dir: &Path, shell: &str) -> HookRecorder {
        fs::create_dir_all(dir).unwrap();
        HookRecorder {
            dir: dir.to_path_buf(),
            shell: shell.to_string(),
        }
    }

    /// Writes hook script `name` that records its call into `record_dir` (the directory as
    /// seen by the hook; usually the same as this recorder's) and then runs `then` (shell
    /// code, e.g. "exit 1" or "exec sleep 5"); appends `name` to `record_dir/order`.
    pub fn script(&self, name: &str, record_dir: &Path, then: &str) -> PathBuf {
        let d = record_dir.join(name);
        let d = d.display();
        let order = record_dir.join("order");
        let body = format!(
            "#!{shell}\n\
             cat > {d}.stdin.tmp\n\
             for a in \"$@\"; do echo \"$a\"; done > {d}.args\n\
             env > {d}.env\n\
             echo {name} >> {order}\n\
             mv {d}.stdin.tmp {d}.stdin\n\
             {then}\n",
            shell = self.shell,
            order = order.display(),
        );
        let path = self.dir.join(format!("{name}.sh"));
        fs::write(&path, body).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A hook entry for config.json running [`HookRecorder::script`] `name` recording into
    /// this recorder's dir, with args `[path, name, "second-arg"]` and env
    /// `HOOK_NAME=<name>`.
    pub fn hook(&self, name: &str, then: &str) -> Value {
        let path = self.script(name, &self.dir, then);
        json!({
            "path": path,
            "args": [path, name, "second-arg"],
            "env": [format!("HOOK_NAME={name}")]
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether hook `name` ran to the end of its recording.
    pub fn ran(&self, name: &str) -> bool {
        self.dir.join(format!("{name}.stdin")).exists()
    }

    /// The state JSON hook `name` got on stdin.
    #[track_caller]
    pub fn state(&self, name: &str) -> Value {
        let text = fs::read_to_string(self.dir.join(format!("{name}.stdin")))
            .unwrap_or_else(|e| panic!("hook {name} did not record its stdin: {e}"));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("hook {name} stdin is not JSON ({e}): {text:?}"))
    }

    pub fn args(&self, name: &str) -> Vec<String> {
        let text = fs::read_to_string(self.dir.join(format!("{name}.args"))).unwrap_or_default();
        text.lines().map(str::to_string).collect()
    }

    pub fn env(&self, name: &str) -> Vec<String> {
        let text = fs::read_to_string(self.dir.join(format!("{name}.env"))).unwrap_or_default();
        text.lines().map(str::to_string).collect()
    }

    /// The hooks that ran, in order.
    pub fn order(&self) -> Vec<String> {
        let text = fs::read_to_string(self.dir.join("order")).unwrap_or_default();
        text.lines().map(str::to_string).collect()
    }
}
