use super::*;
use crate::load::load_config;
use crate::validate::{tests::Bundle, validate};
use oci_spec::runtime::Capability;

fn namespace_types(spec: &Spec) -> Vec<LinuxNamespaceType> {
    let linux = spec.linux().as_ref().unwrap();
    linux
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|ns| ns.typ())
        .collect()
}

fn mount<'a>(spec: &'a Spec, destination: &str) -> &'a Mount {
    let mounts = spec.mounts().as_ref().unwrap();
    mounts
        .iter()
        .find(|m| m.destination() == Path::new(destination))
        .unwrap()
}

#[test]
fn default_spec_matches_runc_example() {
    let spec = default_spec();
    assert_eq!(spec.version(), "1.3.0");
    assert_eq!(spec.hostname().as_deref(), Some("cella"));
    let process = spec.process().as_ref().unwrap();
    assert_eq!(process.terminal(), Some(true));
    assert_eq!(process.args().as_deref(), Some(&["sh".to_owned()][..]));
    assert_eq!(process.cwd(), Path::new("/"));
    assert_eq!(process.no_new_privileges(), Some(true));
    let caps = process.capabilities().as_ref().unwrap();
    let expected = [
        Capability::AuditWrite,
        Capability::Kill,
        Capability::NetBindService,
    ]
    .into_iter()
    .collect();
    assert_eq!(caps.bounding().as_ref(), Some(&expected));
    assert_eq!(caps.effective().as_ref(), Some(&expected));
    assert_eq!(caps.permitted().as_ref(), Some(&expected));
    assert!(caps.inheritable().is_none() && caps.ambient().is_none());
    let rlimit = process.rlimits().as_ref().unwrap()[0];
    assert_eq!(
        (
            rlimit.typ().to_string().as_str(),
            rlimit.soft(),
            rlimit.hard()
        ),
        ("RLIMIT_NOFILE", 1024, 1024)
    );
    let root = spec.root().as_ref().unwrap();
    assert_eq!(
        (root.path().to_str(), root.readonly()),
        (Some("rootfs"), Some(true))
    );
    let destinations: Vec<_> = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.destination().to_str().unwrap())
        .collect();
    assert_eq!(
        destinations,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "/sys/fs/cgroup"
        ]
    );
    assert!(mount(&spec, "/dev/pts")
        .options()
        .as_ref()
        .unwrap()
        .contains(&"gid=5".to_owned()));
    use LinuxNamespaceType::*;
    assert_eq!(
        namespace_types(&spec),
        [Pid, Network, Ipc, Uts, Mount, Cgroup]
    );
    let linux = spec.linux().as_ref().unwrap();
    assert_eq!(linux.masked_paths().as_ref().unwrap().len(), 11);
    assert_eq!(linux.readonly_paths().as_ref().unwrap().len(), 5);
    let deny_all = &linux
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        (
            deny_all.allow(),
            deny_all.access().as_deref(),
            deny_all.typ()
        ),
        (false, Some("rwm"), None)
    );
}

#[test]
fn default_spec_round_trips_and_validates() {
    for spec in [default_spec(), default_spec_rootless(1000, 1000)] {
        let text = spec_to_json(&spec);
        let reloaded: Spec = serde_json::from_str(&text).unwrap();
        assert_eq!(reloaded, spec);
        let bundle = Bundle::new();
        validate(&spec, bundle.path()).unwrap();
        assert!(crate::validate::warnings(&spec).is_empty());
    }
}

#[test]
fn rootless_spec_follows_runc() {
    let spec = default_spec_rootless(1000, 100);
    use LinuxNamespaceType::*;
    assert_eq!(namespace_types(&spec), [Pid, Ipc, Uts, Mount, Cgroup, User]);
    let linux = spec.linux().as_ref().unwrap();
    let uid = linux.uid_mappings().as_ref().unwrap()[0];
    let gid = linux.gid_mappings().as_ref().unwrap()[0];
    assert_eq!(
        (uid.container_id(), uid.host_id(), uid.size()),
        (0, 1000, 1)
    );
    assert_eq!((gid.container_id(), gid.host_id(), gid.size()), (0, 100, 1));
    assert!(linux.resources().is_none());
    let sys = mount(&spec, "/sys");
    assert_eq!(sys.typ().as_deref(), Some("none"));
    assert_eq!(sys.source().as_deref(), Some(Path::new("/sys")));
    assert_eq!(sys.options().as_ref().unwrap()[0], "rbind");
    let pts = mount(&spec, "/dev/pts").options().clone().unwrap();
    assert!(!pts.iter().any(|o| o.starts_with("gid=")), "{pts:?}");
    // Process and root are untouched.
    assert_eq!(spec.process(), default_spec().process());
    assert_eq!(spec.root(), default_spec().root());
}

#[test]
fn to_rootless_replaces_an_existing_user_namespace() {
    let mut spec = default_spec_rootless(1, 1);
    to_rootless(&mut spec, 2, 3);
    let users = namespace_types(&spec)
        .into_iter()
        .filter(|t| *t == LinuxNamespaceType::User)
        .count();
    assert_eq!(users, 1);
    assert_eq!(
        spec.linux()
            .as_ref()
            .unwrap()
            .uid_mappings()
            .as_ref()
            .unwrap()[0]
            .host_id(),
        2
    );
}

#[test]
fn write_default_spec_refuses_to_overwrite() {
    let bundle = Bundle::new();
    let path = write_default_spec(bundle.path(), None).unwrap();
    assert_eq!(path, bundle.path().join("config.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("{\n\t\"ociVersion\": \"1.3.0\","),
        "{text}"
    );
    assert_eq!(load_config(bundle.path()).unwrap(), default_spec());
    let err = write_default_spec(bundle.path(), Some((1000, 1000))).unwrap_err();
    assert!(matches!(err, WriteSpecError::Exists { .. }));
    assert_eq!(err.to_string(), "File config.json exists. Remove it first");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "the file is left alone"
    );
}

#[test]
fn write_spec_reports_a_missing_bundle() {
    let bundle = Bundle::new();
    let err = write_spec(&bundle.path().join("missing"), &default_spec()).unwrap_err();
    assert!(matches!(err, WriteSpecError::Create { .. }), "{err}");
    assert!(err.to_string().starts_with("create "), "{err}");
}

#[test]
fn rootless_default_is_written_too() {
    let bundle = Bundle::new();
    write_default_spec(bundle.path(), Some((1000, 1000))).unwrap();
    let spec = load_config(bundle.path()).unwrap();
    assert!(namespace_types(&spec).contains(&LinuxNamespaceType::User));
}
