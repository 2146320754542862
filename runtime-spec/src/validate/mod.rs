//! Every check on a config that can be decided before anything runs.
//!
//! [`validate`] stops at the first problem and reports the JSON path of the offending field
//! with the reason. Where runc refuses the same config, the reason uses runc's words, so
//! callers that grep for them (and people who know them) find them.
//!
//! Not checked here because they need the host: whether the rootfs is a mount point, whether a
//! namespace path refers to a namespace of the right type or to the host's own network
//! namespace, whether AppArmor/SELinux/seccomp/Intel RDT are available, cgroup controller
//! availability, and whether a bind-mount source exists.

mod linux;
mod mounts;
mod process;
mod resources;

use std::path::Path;

use oci_spec::runtime::{Hook, LinuxNamespace, LinuxNamespaceType, Spec};

use crate::version::{is_supported, parse_oci_version, OCI_VERSION_MAX, OCI_VERSION_MIN};

pub use linux::{
    dotted_sysctl, namespace_name, parse_systemd_cgroups_path, valid_interface_name,
    SystemdCgroupsPath,
};
pub use mounts::is_bind;
pub use process::validate_process;
pub use resources::is_valid_id_list;

/// A config value that cella refuses. `field` is the JSON path of the value
/// (`process.rlimits[1].type`), empty when the error is not about a config field (signals).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.field, .reason))]
pub struct ValidationError {
    pub field: String,
    pub reason: String,
}

fn render(field: &str, reason: &str) -> String {
    if field.is_empty() {
        reason.to_owned()
    } else {
        format!("invalid config: {field}: {reason}")
    }
}

pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Checks `spec` (loaded from the bundle at `bundle`) for everything that can be decided
/// before creating the container. The only file-system access is the check that the root
/// filesystem directory exists.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<(), ValidationError> {
    check_version(spec.version())?;
    check_root(spec, bundle)?;
    let namespaces = Namespaces::of(spec);
    process::check(spec)?;
    mounts::check(spec, &namespaces)?;
    check_hooks(spec)?;
    check_annotations(spec)?;
    linux::check(spec, &namespaces)?;
    if let Some(linux) = spec.linux() {
        resources::check(linux)?;
    }
    Ok(())
}

/// Things cella accepts but that deserve a warning (deprecated forms).
pub fn warnings(spec: &Spec) -> Vec<String> {
    let mut warnings = mounts::warnings(spec);
    #[allow(deprecated)] // prestart is deprecated by the spec but still supported
    if spec
        .hooks()
        .as_ref()
        .and_then(|h| h.prestart().as_ref())
        .is_some_and(|h| !h.is_empty())
    {
        warnings.push("hooks.prestart is deprecated; use createRuntime hooks".to_owned());
    }
    warnings
}

fn check_version(version: &str) -> Result<(), ValidationError> {
    if version.is_empty() {
        return Err(invalid("ociVersion", "ociVersion is required"));
    }
    let parsed = parse_oci_version(version).map_err(|reason| invalid("ociVersion", reason))?;
    if !is_supported(&parsed) {
        return Err(invalid(
            "ociVersion",
            format!(
                "unsupported version {version:?}: cella supports {OCI_VERSION_MIN} to {}.x",
                OCI_VERSION_MAX
                    .rsplit_once('.')
                    .map_or(OCI_VERSION_MAX, |(minor, _)| minor)
            ),
        ));
    }
    Ok(())
}

fn check_root(spec: &Spec, bundle: &Path) -> Result<(), ValidationError> {
    let Some(root) = spec.root() else {
        return Err(invalid("root", "root is required on Linux"));
    };
    if root.path().as_os_str().is_empty() {
        return Err(invalid("root.path", "root.path must not be empty"));
    }
    let rootfs = rootfs_path(bundle, root.path());
    match std::fs::metadata(&rootfs) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(invalid(
            "root.path",
            format!("rootfs {} is not a directory", rootfs.display()),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(invalid(
            "root.path",
            format!("rootfs {} does not exist", rootfs.display()),
        )),
        Err(e) => Err(invalid(
            "root.path",
            format!("stat rootfs {}: {e}", rootfs.display()),
        )),
    }
}

/// The absolute rootfs path: `root.path` as is when absolute, else relative to the bundle.
pub fn rootfs_path(bundle: &Path, root: &Path) -> std::path::PathBuf {
    let joined = bundle.join(root);
    std::path::absolute(&joined).unwrap_or(joined)
}

fn check_hooks(spec: &Spec) -> Result<(), ValidationError> {
    let Some(hooks) = spec.hooks() else {
        return Ok(());
    };
    #[allow(deprecated)] // prestart is deprecated by the spec but still valid
    let kinds: [(&str, &Option<Vec<Hook>>); 6] = [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
        ("startContainer", hooks.start_container()),
        ("poststart", hooks.poststart()),
        ("poststop", hooks.poststop()),
    ];
    for (kind, list) in kinds {
        for (i, hook) in list.iter().flatten().enumerate() {
            let field = format!("hooks.{kind}[{i}]");
            if !hook.path().is_absolute() {
                return Err(invalid(
                    format!("{field}.path"),
                    format!("hook path {:?} must be absolute", hook.path()),
                ));
            }
            if let Some(timeout) = hook.timeout().filter(|t| *t <= 0) {
                return Err(invalid(
                    format!("{field}.timeout"),
                    format!("timeout must be greater than zero, got {timeout}"),
                ));
            }
            for (j, entry) in hook.env().iter().flatten().enumerate() {
                process::check_env_entry(&format!("{field}.env[{j}]"), entry)?;
            }
        }
    }
    Ok(())
}

fn check_annotations(spec: &Spec) -> Result<(), ValidationError> {
    if spec
        .annotations()
        .as_ref()
        .is_some_and(|a| a.contains_key(""))
    {
        return Err(invalid("annotations", "annotation keys must not be empty"));
    }
    Ok(())
}

/// The `linux.namespaces` list, for "does the container get its own X namespace" questions.
pub(crate) struct Namespaces<'a> {
    list: &'a [LinuxNamespace],
}

impl<'a> Namespaces<'a> {
    pub(crate) fn of(spec: &'a Spec) -> Self {
        let list = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_deref());
        Namespaces {
            list: list.unwrap_or(&[]),
        }
    }

    pub(crate) fn get(&self, typ: LinuxNamespaceType) -> Option<&'a LinuxNamespace> {
        self.list.iter().find(|ns| ns.typ() == typ)
    }

    /// The container does not share the runtime's namespace of this type (it gets a new one
    /// or joins the one at `path`), which is what runc's checks ask.
    pub(crate) fn contains(&self, typ: LinuxNamespaceType) -> bool {
        self.get(typ).is_some()
    }

    /// A new namespace is created (no path, or an empty path as runc reads it).
    pub(crate) fn creates(&self, typ: LinuxNamespaceType) -> bool {
        self.get(typ)
            .is_some_and(|ns| ns.path().as_ref().is_none_or(|p| p.as_os_str().is_empty()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A bundle with a rootfs dir and a minimal valid config, as JSON to patch in tests.
    pub(crate) struct Bundle {
        pub(crate) dir: tempfile::TempDir,
    }

    impl Bundle {
        pub(crate) fn new() -> Self {
            let dir = tempfile::Builder::new()
                .prefix("cella-test-")
                .tempdir()
                .unwrap();
            std::fs::create_dir(dir.path().join("rootfs")).unwrap();
            Bundle { dir }
        }

        pub(crate) fn path(&self) -> &Path {
            self.dir.path()
        }
    }

    pub(crate) fn base() -> Value {
        json!({
            "ociVersion": "1.0.2-dev",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        })
    }

    /// Validates `base()` with the JSON pointer `pointer` set to `value` (`Value::Null`
    /// removes it).
    pub(crate) fn check(pointer: &str, value: Value) -> Result<(), ValidationError> {
        let mut config = base();
        set(&mut config, pointer, value);
        check_json(config)
    }

    pub(crate) fn check_json(config: Value) -> Result<(), ValidationError> {
        let bundle = Bundle::new();
        let spec: Spec = serde_json::from_value(config).expect("test config must load");
        validate(&spec, bundle.path())
    }

    pub(crate) fn set(config: &mut Value, pointer: &str, value: Value) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let mut node = config;
        for part in parent.split('/').skip(1) {
            node = node
                .as_object_mut()
                .unwrap()
                .entry(part)
                .or_insert_with(|| Value::Object(Default::default()));
        }
        let object = node.as_object_mut().unwrap();
        if value.is_null() {
            object.remove(key);
        } else {
            object.insert(key.to_owned(), value);
        }
    }

    /// Asserts that validation fails at `field` with a reason containing `needle`.
    pub(crate) fn assert_refused(result: Result<(), ValidationError>, field: &str, needle: &str) {
        let err = result.expect_err("config should be refused");
        assert_eq!(err.field, field, "{err}");
        assert!(
            err.reason.contains(needle),
            "reason {:?} lacks {needle:?}",
            err.reason
        );
    }

    #[test]
    fn base_config_is_valid() {
        check_json(base()).unwrap();
    }

    #[test]
    fn display_names_field_and_reason() {
        let err = invalid("process.cwd", "cwd must be absolute");
        assert_eq!(
            err.to_string(),
            "invalid config: process.cwd: cwd must be absolute"
        );
        assert_eq!(
            invalid("", "unknown signal \"X\"").to_string(),
            "unknown signal \"X\""
        );
    }

    #[test]
    fn oci_version_must_be_semver_in_range() {
        for ok in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.3.0", "1.3.1"] {
            check("/ociVersion", json!(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert_refused(check("/ociVersion", json!("")), "ociVersion", "required");
        assert_refused(
            check("/ociVersion", json!("1.0")),
            "ociVersion",
            "not a semantic",
        );
        assert_refused(
            check("/ociVersion", json!("0.5.0")),
            "ociVersion",
            "\"0.5.0\"",
        );
        assert_refused(
            check("/ociVersion", json!("1.4.0")),
            "ociVersion",
            "1.0.0 to 1.3.x",
        );
        assert_refused(
            check("/ociVersion", json!("2.0.0")),
            "ociVersion",
            "unsupported",
        );
    }

    #[test]
    fn root_must_exist_as_directory() {
        assert_refused(check("/root", Value::Null), "root", "required");
        assert_refused(
            check("/root/path", json!("")),
            "root.path",
            "must not be empty",
        );
        let bundle = Bundle::new();
        let mut config = base();
        set(&mut config, "/root/path", json!("missing"));
        let spec: Spec = serde_json::from_value(config).unwrap();
        let err = validate(&spec, bundle.path()).unwrap_err();
        let expected = format!(
            "rootfs {} does not exist",
            bundle.path().join("missing").display()
        );
        assert_eq!(err.reason, expected);
        std::fs::write(bundle.path().join("file"), "").unwrap();
        set_root_and_expect(&bundle, "file", "is not a directory");
    }

    fn set_root_and_expect(bundle: &Bundle, root: &str, needle: &str) {
        let mut config = base();
        set(&mut config, "/root/path", json!(root));
        let spec: Spec = serde_json::from_value(config).unwrap();
        assert_refused(validate(&spec, bundle.path()), "root.path", needle);
    }

    #[test]
    fn absolute_root_path_is_used_as_is() {
        let bundle = Bundle::new();
        let other = Bundle::new();
        let mut config = base();
        set(
            &mut config,
            "/root/path",
            json!(other.path().join("rootfs")),
        );
        let spec: Spec = serde_json::from_value(config).unwrap();
        validate(&spec, bundle.path()).unwrap();
        assert_eq!(
            rootfs_path(bundle.path(), Path::new("/abs")),
            Path::new("/abs")
        );
    }

    #[test]
    fn hooks_need_absolute_path_and_positive_timeout() {
        let ok = json!({"createRuntime": [{"path": "/bin/true", "timeout": 5, "env": ["A=b"]}],
                        "prestart": [{"path": "/bin/true"}]});
        check("/hooks", ok).unwrap();
        let relative = json!({"poststop": [{"path": "/bin/true"}, {"path": "true"}]});
        assert_refused(
            check("/hooks", relative),
            "hooks.poststop[1].path",
            "must be absolute",
        );
        let zero = json!({"startContainer": [{"path": "/x", "timeout": 0}]});
        assert_refused(
            check("/hooks", zero),
            "hooks.startContainer[0].timeout",
            "greater than zero",
        );
        let negative = json!({"createContainer": [{"path": "/x", "timeout": -3}]});
        assert_refused(
            check("/hooks", negative),
            "hooks.createContainer[0].timeout",
            "-3",
        );
        let env = json!({"poststart": [{"path": "/x", "env": ["NOEQUALS"]}]});
        assert_refused(
            check("/hooks", env),
            "hooks.poststart[0].env[0]",
            "NAME=VALUE",
        );
    }

    #[test]
    fn prestart_hooks_warn_as_deprecated() {
        let mut config = base();
        set(
            &mut config,
            "/hooks",
            json!({"prestart": [{"path": "/bin/true"}]}),
        );
        let spec: Spec = serde_json::from_value(config).unwrap();
        assert!(warnings(&spec)
            .iter()
            .any(|w| w.contains("prestart is deprecated")));
        assert!(warnings(&serde_json::from_value(base()).unwrap()).is_empty());
    }

    #[test]
    fn annotation_keys_must_not_be_empty() {
        check("/annotations", json!({"a": "b"})).unwrap();
        assert_refused(
            check("/annotations", json!({"": "b"})),
            "annotations",
            "must not be empty",
        );
    }

    #[test]
    fn namespace_helper_distinguishes_new_and_joined() {
        let mut config = base();
        set(
            &mut config,
            "/linux/namespaces",
            json!([{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}, {"type": "ipc", "path": ""}]),
        );
        let spec: Spec = serde_json::from_value(config).unwrap();
        let ns = Namespaces::of(&spec);
        assert!(ns.creates(LinuxNamespaceType::Pid));
        assert!(ns.contains(LinuxNamespaceType::Network));
        assert!(!ns.creates(LinuxNamespaceType::Network));
        assert!(ns.creates(LinuxNamespaceType::Ipc));
        assert!(!ns.contains(LinuxNamespaceType::User));
    }
}
