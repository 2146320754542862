//! Reading `<bundle>/config.json` into an [`oci_spec::runtime::Spec`].
//!
//! Errors name the file, the JSON field path (`process.args[0]`, `linux.namespaces[1].type`),
//! the line and column, and the problem. Unknown properties are ignored, as config.md's
//! extensibility section requires.
//!
//! oci-spec 0.10 is stricter than the spec in three places, which are bridged here (only when
//! the plain parse fails, so well-formed configs take the fast path):
//! - `process.user` is optional in the schema (runc reads a missing one as uid 0, gid 0) but
//!   required by oci-spec: a missing one is read as `{}`.
//! - a capability name oci-spec does not know makes it fail, while config.md says such values
//!   MUST be logged as a warning and SHOULD NOT fail the container: they are dropped with a
//!   warning.
//! - oci-spec spells two scheduler flags differently from config.md
//!   (`SCHED_FLAG_RESET_ON_FORK`, `SCHED_FLAG_DL_OVERRUN`): the spec's names are accepted.

use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Capability, Process, Spec};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Name of the config file inside a bundle.
pub const CONFIG_FILE: &str = "config.json";

/// Scheduler flags as config.md spells them, and as oci-spec 0.10 (de)serialises them.
pub(crate) const SCHED_FLAG_NAMES: &[(&str, &str)] = &[
    ("SCHED_FLAG_RESET_ON_FORK", "SCHED_RESET_ON_FORK"),
    ("SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_D_L_OVERRUN"),
];

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bundle has no config.json. Worded like runc ("JSON specification file config.json
    /// not found") followed by the open(2) failure.
    #[error(
        "JSON specification file {path} not found: open {path}: no such file or directory",
        path = .path.display()
    )]
    NotFound { path: PathBuf },
    #[error("read {}: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },
    /// Malformed JSON or a value of the wrong type. `field` is the JSON path of the offending
    /// value (`None` for syntax errors); `line` and `column` are 1-based, 0 when unknown.
    #[error("parse {}: {}", .path.display(), describe(.field, .message, *.line, *.column))]
    Parse {
        path: PathBuf,
        field: Option<String>,
        line: usize,
        column: usize,
        message: String,
    },
}

fn describe(field: &Option<String>, message: &str, line: usize, column: usize) -> String {
    let mut text = match field {
        Some(field) => format!("{field}: {message}"),
        None => message.to_owned(),
    };
    if line > 0 {
        text.push_str(&format!(" (line {line}, column {column})"));
    }
    text
}

/// A loaded config and the warnings found while reading it (ignored capabilities).
#[derive(Debug)]
pub struct Loaded {
    pub spec: Spec,
    pub warnings: Vec<String>,
}

/// Reads and parses `<bundle>/config.json`, logging any warnings with `log::warn!`.
pub fn load_config(bundle: &Path) -> Result<Spec, LoadError> {
    let loaded = load_config_with_warnings(bundle)?;
    for warning in &loaded.warnings {
        log::warn!("{warning}");
    }
    Ok(loaded.spec)
}

/// Reads and parses `<bundle>/config.json`, returning the warnings instead of logging them.
pub fn load_config_with_warnings(bundle: &Path) -> Result<Loaded, LoadError> {
    let path = bundle.join(CONFIG_FILE);
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => LoadError::NotFound { path: path.clone() },
        _ => LoadError::Read {
            path: path.clone(),
            source,
        },
    })?;
    parse_config(&bytes, &path)
}

/// Parses config.json content; `path` is only used in error messages.
pub fn parse_config(bytes: &[u8], path: &Path) -> Result<Loaded, LoadError> {
    let (spec, warnings) = parse_document::<Spec>(bytes, path, |config, warnings| {
        if let Some(process) = config.get_mut("process") {
            bridge_process(process, "process.", warnings);
        }
    })?;
    check_device_numbers(bytes, path)?;
    Ok(Loaded { spec, warnings })
}

/// Reads a process.json (`exec --process`), logging any warnings with `log::warn!`.
pub fn load_process(path: &Path) -> Result<Process, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let (process, warnings) = parse_process(&bytes, path)?;
    for warning in &warnings {
        log::warn!("{warning}");
    }
    Ok(process)
}

/// Parses a process.json (the `process` object of a config on its own), with the same
/// error reporting and oci-spec bridges as [`parse_config`].
pub fn parse_process(bytes: &[u8], path: &Path) -> Result<(Process, Vec<String>), LoadError> {
    parse_document(bytes, path, |process, warnings| {
        bridge_process(process, "", warnings)
    })
}

/// Deserialises `bytes` strictly; if oci-spec refuses well-formed JSON, retries once after
/// `bridge` has rewritten it (see the module doc).
fn parse_document<T: DeserializeOwned>(
    bytes: &[u8],
    path: &Path,
    bridge: impl FnOnce(&mut Value, &mut Vec<String>),
) -> Result<(T, Vec<String>), LoadError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let first = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(document) => {
            // Trailing garbage after the object is a syntax error like the others.
            de.end().map_err(|e| json_error(path, None, &e))?;
            return Ok((document, Vec::new()));
        }
        Err(e) => e,
    };
    if first.inner().classify() != serde_json::error::Category::Data {
        return Err(parse_error(path, &first));
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(bytes) else {
        return Err(parse_error(path, &first));
    };
    let mut warnings = Vec::new();
    bridge(&mut value, &mut warnings);
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(document) => Ok((document, warnings)),
        // Same place as the first attempt: that error knows the line and column.
        Err(second) if second.path().to_string() == first.path().to_string() => {
            Err(parse_error(path, &first))
        }
        Err(second) => Err(LoadError::Parse {
            path: path.to_owned(),
            field: field_of(second.path()),
            line: 0,
            column: 0,
            message: second.inner().to_string(),
        }),
    }
}

/// config-linux.md: `major` and `minor` are REQUIRED unless the device type is `p`. oci-spec
/// reads a missing number as 0, so this looks at the raw document.
fn check_device_numbers(bytes: &[u8], path: &Path) -> Result<(), LoadError> {
    #[derive(Deserialize)]
    struct Raw {
        linux: Option<RawLinux>,
    }
    #[derive(Deserialize)]
    struct RawLinux {
        devices: Option<Vec<RawDevice>>,
    }
    #[derive(Deserialize)]
    struct RawDevice {
        #[serde(rename = "type")]
        typ: Option<String>,
        major: Option<IgnoredAny>,
        minor: Option<IgnoredAny>,
    }
    // The document already parsed as a Spec, so this parse only fails on shapes oci-spec was
    // bridged over, which do not involve devices.
    let Ok(raw) = serde_json::from_slice::<Raw>(bytes) else {
        return Ok(());
    };
    let devices = raw.linux.and_then(|l| l.devices).unwrap_or_default();
    for (i, device) in devices.iter().enumerate() {
        let typ = device.typ.as_deref().unwrap_or_default();
        if typ != "p" && (device.major.is_none() || device.minor.is_none()) {
            return Err(LoadError::Parse {
                path: path.to_owned(),
                field: Some(format!("linux.devices[{i}]")),
                line: 0,
                column: 0,
                message: format!("major and minor are required for device type {typ:?}"),
            });
        }
    }
    Ok(())
}

fn field_of(path: &serde_path_to_error::Path) -> Option<String> {
    // "." is the document itself, "?" a position serde_path_to_error could not track.
    let field = path.to_string();
    (field != "." && field != "?").then_some(field)
}

fn parse_error(path: &Path, e: &serde_path_to_error::Error<serde_json::Error>) -> LoadError {
    json_error(path, field_of(e.path()), e.inner())
}

fn json_error(path: &Path, field: Option<String>, inner: &serde_json::Error) -> LoadError {
    let mut message = inner.to_string();
    // serde_json appends the position; it is reported separately.
    let suffix = format!(" at line {} column {}", inner.line(), inner.column());
    if let Some(stripped) = message.strip_suffix(&suffix) {
        message = stripped.to_owned();
    }
    LoadError::Parse {
        path: path.to_owned(),
        field,
        line: inner.line(),
        column: inner.column(),
        message,
    }
}

/// Rewrites a `process` object so that oci-spec accepts what the spec allows; `prefix` is its
/// JSON path for warnings ("process." in a config, "" in a process.json).
fn bridge_process(process: &mut Value, prefix: &str, warnings: &mut Vec<String>) {
    let Some(process) = process.as_object_mut() else {
        return;
    };
    process
        .entry("user")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(sets) = process
        .get_mut("capabilities")
        .and_then(Value::as_object_mut)
    {
        for (set, caps) in sets.iter_mut() {
            let Some(caps) = caps.as_array_mut() else {
                continue;
            };
            caps.retain(|cap| {
                let unknown =
                    cap.is_string() && serde_json::from_value::<Capability>(cap.clone()).is_err();
                if unknown {
                    warnings.push(format!(
                        "ignoring unknown capability {cap} in {prefix}capabilities.{set}"
                    ));
                }
                !unknown
            });
        }
    }
    let flags = process
        .get_mut("scheduler")
        .and_then(|s| s.get_mut("flags"));
    if let Some(flags) = flags.and_then(Value::as_array_mut) {
        for flag in flags {
            let renamed = SCHED_FLAG_NAMES
                .iter()
                .find(|(spec, _)| flag.as_str() == Some(spec));
            if let Some((_, oci_spec_name)) = renamed {
                *flag = Value::from(*oci_spec_name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxNamespaceType, LinuxSchedulerFlag};

    fn parse(text: &str) -> Result<Loaded, LoadError> {
        parse_config(text.as_bytes(), Path::new("/b/config.json"))
    }

    fn parse_err(text: &str) -> (Option<String>, usize, String) {
        match parse(text) {
            Err(LoadError::Parse {
                field,
                line,
                message,
                ..
            }) => (field, line, message),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn missing_file_says_not_found_with_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_config(dir.path()).unwrap_err();
        let text = err.to_string();
        let path = dir.path().join("config.json");
        assert!(matches!(err, LoadError::NotFound { .. }));
        assert!(text.contains(&format!(
            "open {}: no such file or directory",
            path.display()
        )));
        assert!(text.starts_with("JSON specification file"));
    }

    #[test]
    fn loads_file_from_bundle() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"ociVersion":"1.0.0","root":{"path":"rootfs"},"hostname":"h"}"#,
        )
        .unwrap();
        let spec = load_config(dir.path()).unwrap();
        assert_eq!(spec.hostname().as_deref(), Some("h"));
    }

    #[test]
    fn unreadable_path_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("config.json")).unwrap();
        let err = load_config(dir.path()).unwrap_err();
        assert!(matches!(err, LoadError::Read { .. }), "{err}");
        assert!(err.to_string().starts_with("read "));
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let (field, line, message) = parse_err("{\n  \"ociVersion\": \"1.0.0\",\n  ]");
        assert_eq!(field, None);
        assert_eq!(line, 3);
        assert!(!message.contains("at line"), "{message}");
        let err = parse("{\"ociVersion\": \"1.0.0\",")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("parse /b/config.json: EOF while parsing"),
            "{err}"
        );
        assert!(err.contains("(line 1, column"), "{err}");
    }

    #[test]
    fn trailing_garbage_is_refused() {
        let (_, line, message) = parse_err("{\"ociVersion\": \"1.0.0\"}\nxyz");
        assert_eq!(line, 2);
        assert!(message.contains("trailing characters"), "{message}");
    }

    #[test]
    fn wrong_type_names_the_field_path() {
        let text = "{\"ociVersion\":\"1.0.0\",\n\"process\":{\"cwd\":\"/\",\"args\":[1]}}";
        let (field, line, message) = parse_err(text);
        assert_eq!(field.as_deref(), Some("process.args[0]"));
        assert_eq!(line, 2);
        assert!(message.contains("expected a string"), "{message}");
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("process.args[0]: invalid type"), "{err}");
    }

    #[test]
    fn unknown_namespace_type_names_the_field_path() {
        let text =
            r#"{"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"pid"},{"type":"foo"}]}}"#;
        let (field, _, message) = parse_err(text);
        assert_eq!(field.as_deref(), Some("linux.namespaces[1].type"));
        assert!(message.contains("unknown variant `foo`"), "{message}");
    }

    #[test]
    fn unknown_rlimit_type_is_refused() {
        let text = r#"{"ociVersion":"1.0.0","process":{"cwd":"/","user":{"uid":0,"gid":0},
            "rlimits":[{"type":"RLIMIT_FOO","soft":1,"hard":1}]}}"#;
        let (field, _, message) = parse_err(text);
        assert_eq!(field.as_deref(), Some("process.rlimits[0].type"));
        assert!(message.contains("RLIMIT_FOO"), "{message}");
    }

    #[test]
    fn unknown_properties_are_ignored() {
        let text = r#"{"ociVersion":"1.0.0","future":{"x":1},"process":{"cwd":"/",
            "user":{"uid":1,"gid":2,"newThing":true},"args":["sh"],"alsoNew":[1]}}"#;
        let loaded = parse(text).unwrap();
        assert!(loaded.warnings.is_empty());
        assert_eq!(loaded.spec.process().as_ref().unwrap().user().uid(), 1);
    }

    #[test]
    fn missing_user_reads_as_root() {
        let loaded =
            parse(r#"{"ociVersion":"1.0.0","process":{"cwd":"/","args":["sh"]}}"#).unwrap();
        let user = loaded.spec.process().as_ref().unwrap().user().clone();
        assert_eq!((user.uid(), user.gid()), (0, 0));
    }

    #[test]
    fn unknown_capability_is_dropped_with_a_warning() {
        let text = r#"{"ociVersion":"1.0.0","process":{"cwd":"/","user":{"uid":0,"gid":0},
            "capabilities":{"bounding":["CAP_KILL","CAP_FROBNICATE"],"effective":["CAP_KILL"]}}}"#;
        let loaded = parse(text).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert!(
            loaded.warnings[0].contains("\"CAP_FROBNICATE\""),
            "{:?}",
            loaded.warnings
        );
        assert!(loaded.warnings[0].contains("process.capabilities.bounding"));
        let caps = loaded
            .spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
        assert!(caps
            .bounding()
            .as_ref()
            .unwrap()
            .contains(&Capability::Kill));
    }

    #[test]
    fn non_string_capability_stays_an_error() {
        let text = r#"{"ociVersion":"1.0.0","process":{"cwd":"/","user":{"uid":0,"gid":0},
            "capabilities":{"bounding":[7]}}}"#;
        let (field, _, _) = parse_err(text);
        assert_eq!(field.as_deref(), Some("process.capabilities.bounding[0]"));
    }

    #[test]
    fn spec_scheduler_flag_names_are_accepted() {
        // Check that oci-spec really spells them differently, so that the bridge is needed.
        for (spec_name, oci_name) in SCHED_FLAG_NAMES {
            let flag: LinuxSchedulerFlag = serde_json::from_value(Value::from(*oci_name)).unwrap();
            assert!(serde_json::from_value::<LinuxSchedulerFlag>(Value::from(*spec_name)).is_err());
            assert_eq!(serde_json::to_value(flag).unwrap(), Value::from(*oci_name));
        }
        let text = r#"{"ociVersion":"1.0.0","process":{"cwd":"/","user":{"uid":0,"gid":0},
            "scheduler":{"policy":"SCHED_DEADLINE","flags":["SCHED_FLAG_RESET_ON_FORK",
            "SCHED_FLAG_DL_OVERRUN","SCHED_FLAG_RECLAIM"]}}}"#;
        let spec = parse(text).unwrap().spec;
        let flags = spec
            .process()
            .as_ref()
            .unwrap()
            .scheduler()
            .clone()
            .unwrap();
        assert_eq!(
            flags.flags().as_deref(),
            Some(
                &[
                    LinuxSchedulerFlag::SchedResetOnFork,
                    LinuxSchedulerFlag::SchedFlagDLOverrun,
                    LinuxSchedulerFlag::SchedFlagReclaim
                ][..]
            )
        );
    }

    #[test]
    fn error_after_bridging_still_names_the_field() {
        // The bridge fixes `user`, then the real problem is reported at its own place.
        let text = r#"{"ociVersion":"1.0.0","process":{"cwd":"/"},"linux":{"namespaces":[{"type":"bad"}]}}"#;
        let (field, _, _) = parse_err(text);
        assert_eq!(field.as_deref(), Some("linux.namespaces[0].type"));
    }

    #[test]
    fn device_numbers_are_required_except_for_fifos() {
        let devices =
            |list: &str| format!(r#"{{"ociVersion":"1.0.0","linux":{{"devices":{list}}}}}"#);
        parse(&devices(
            r#"[{"path":"/dev/null","type":"c","major":1,"minor":3},{"path":"/f","type":"p"}]"#,
        ))
        .unwrap();
        let (field, _, message) = parse_err(&devices(
            r#"[{"path":"/dev/x","type":"p"},{"path":"/dev/y","type":"b","major":8}]"#,
        ));
        assert_eq!(field.as_deref(), Some("linux.devices[1]"));
        assert!(
            message.contains("required for device type \"b\""),
            "{message}"
        );
    }

    #[test]
    fn process_json_parses_with_the_same_bridges() {
        let text = br#"{"cwd":"/","args":["ps"],"capabilities":{"ambient":["CAP_NOPE"]}}"#;
        let (process, warnings) = parse_process(text, Path::new("/p.json")).unwrap();
        assert_eq!(process.user().uid(), 0);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("in capabilities.ambient"),
            "{warnings:?}"
        );
        let err = parse_process(br#"{"cwd":"/","args":"ps"}"#, Path::new("/p.json")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("parse /p.json: args: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn load_process_reads_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("process.json");
        std::fs::write(
            &path,
            r#"{"cwd":"/tmp","args":["ls"],"user":{"uid":5,"gid":6}}"#,
        )
        .unwrap();
        assert_eq!(load_process(&path).unwrap().user().uid(), 5);
        let err = load_process(&dir.path().join("missing.json")).unwrap_err();
        assert!(matches!(err, LoadError::Read { .. }), "{err}");
    }

    #[test]
    fn schema_good_fixtures_load() {
        for name in [
            "minimal",
            "minimal-for-start",
            "spec-example",
            "linux-netdevice",
            "linux-rdma",
        ] {
            let text = crate::test_fixtures::config_good(name);
            let loaded = parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(loaded.warnings.is_empty(), "{name}: {:?}", loaded.warnings);
        }
        let spec = parse(&crate::test_fixtures::config_good("spec-example"))
            .unwrap()
            .spec;
        let namespaces = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        assert_eq!(namespaces[0].typ(), LinuxNamespaceType::Pid);
    }

    #[test]
    fn schema_bad_fixtures_with_type_errors_fail_to_load() {
        let (field, _, _) = parse_err(&crate::test_fixtures::config_bad("linux-netdevice"));
        assert_eq!(field.as_deref(), Some("linux.netDevices.eth0.name"));
        let (field, _, _) = parse_err(&crate::test_fixtures::config_bad("linux-rdma"));
        assert_eq!(
            field.as_deref(),
            Some("linux.resources.rdma.mlx5_1.hcaHandles")
        );
        let (field, line, _) = parse_err(&crate::test_fixtures::config_bad("invalid-json"));
        assert_eq!((field, line), (None, 1));
    }
}
