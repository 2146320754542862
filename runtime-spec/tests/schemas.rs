//! The documents runtime-spec produces, checked against the runtime-spec JSON schemas
//! (copied under tests/schema), with the schemas' own fixtures proving the checker can fail.

use std::path::{Path, PathBuf};

use jsonschema::{Draft, Retrieve, Uri, Validator};
use runtime_spec::{
    default_spec, default_spec_rootless, features, parse_config, spec_to_json, FeatureSwitches,
    State, Status,
};
use serde_json::Value;

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema")
}

fn read_json(relative: &str) -> Value {
    let path = schema_dir().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Serves the schemas' relative `$ref`s ("defs.json#/...") from the copied files.
struct LocalSchemas;

impl Retrieve for LocalSchemas {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri
            .path()
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let text = std::fs::read_to_string(schema_dir().join(&name))?;
        Ok(serde_json::from_str(&text)?)
    }
}

fn validator(schema: &str) -> Validator {
    jsonschema::options()
        .with_draft(Draft::Draft4)
        .with_base_uri("https://schemas.cella.test/")
        .with_retriever(LocalSchemas)
        .build(&read_json(schema))
        .unwrap_or_else(|e| panic!("{schema}: {e}"))
}

fn assert_valid(validator: &Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{what} is not schema-valid: {errors:#?}\n{instance:#}"
    );
}

fn fixtures(kind: &str, verdict: &str) -> Vec<(String, Value)> {
    let dir = schema_dir().join("test").join(kind).join(verdict);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // invalid-json fixtures are not JSON at all: nothing to give the schema.
            serde_json::from_str(&text).ok().map(|v| (name, v))
        })
        .collect()
}

#[test]
fn schema_fixtures_sort_good_from_bad() {
    for (kind, schema) in [
        ("config", "config-schema.json"),
        ("features", "features-schema.json"),
        ("state", "state-schema.json"),
    ] {
        let validator = validator(schema);
        for (name, instance) in fixtures(kind, "good") {
            assert_valid(&validator, &instance, &format!("{kind}/good/{name}"));
        }
        for (name, instance) in fixtures(kind, "bad") {
            assert!(
                !validator.is_valid(&instance),
                "{kind}/bad/{name} passed the schema"
            );
        }
    }
}

#[test]
fn default_specs_are_schema_valid() {
    let validator = validator("config-schema.json");
    for (what, spec) in [
        ("default", default_spec()),
        ("rootless", default_spec_rootless(1000, 1000)),
    ] {
        let text = spec_to_json(&spec);
        assert_valid(&validator, &serde_json::from_str(&text).unwrap(), what);
    }
}

#[test]
fn loaded_configs_are_written_back_schema_valid() {
    // Loading through oci-spec and writing with spec_to_json keeps a valid config valid
    // (scheduler flag names, capability names, optional fields).
    let validator = validator("config-schema.json");
    for name in [
        "minimal.json",
        "minimal-for-start.json",
        "spec-example.json",
        "linux-rdma.json",
        "linux-netdevice.json",
    ] {
        let path = schema_dir().join("test/config/good").join(name);
        let bytes = std::fs::read(&path).unwrap();
        let spec = parse_config(&bytes, &path).unwrap().spec;
        let written: Value = serde_json::from_str(&spec_to_json(&spec)).unwrap();
        assert_valid(&validator, &written, name);
    }
    let scheduler = br#"{"ociVersion":"1.3.0","process":{"cwd":"/","args":["sh"],
        "scheduler":{"policy":"SCHED_DEADLINE","flags":["SCHED_FLAG_RESET_ON_FORK","SCHED_FLAG_DL_OVERRUN"]}}}"#;
    let spec = parse_config(scheduler, Path::new("config.json"))
        .unwrap()
        .spec;
    let written: Value = serde_json::from_str(&spec_to_json(&spec)).unwrap();
    assert_valid(&validator, &written, "scheduler flags");
}

#[test]
fn features_documents_are_schema_valid() {
    let validator = validator("features-schema.json");
    let all_on = FeatureSwitches {
        systemd: true,
        systemd_user: true,
        rdma: true,
        seccomp: true,
        apparmor: true,
        selinux: true,
        intel_rdt: true,
        net_devices: true,
        ..FeatureSwitches::CURRENT
    };
    for (what, doc) in [
        ("current", features()),
        ("all on", runtime_spec::features_with(&all_on)),
    ] {
        let value: Value = serde_json::from_str(&doc.to_json()).unwrap();
        assert_valid(&validator, &value, what);
    }
}

#[test]
fn oci_state_is_schema_valid() {
    let validator = validator("state-schema.json");
    for status in [
        Status::Creating,
        Status::Created,
        Status::Running,
        Status::Stopped,
    ] {
        let state = State {
            oci_version: "1.3.0".to_owned(),
            id: "c1".to_owned(),
            status,
            pid: if status == Status::Stopped { 0 } else { 42 },
            bundle: PathBuf::from("/b"),
            annotations: [("k".to_owned(), "v".to_owned())].into(),
            rootfs: PathBuf::from("/b/rootfs"),
            created: "2024-01-01T00:00:00Z".to_owned(),
            owner: String::new(),
        };
        let value: Value = serde_json::from_str(&state.to_oci_json()).unwrap();
        assert_valid(&validator, &value, &format!("state {status}"));
    }
}
