use super::*;
use serde_json::json;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      daemon:x:1:1::/:/bin/false\n\
                      user:x:1000:1000::/home/user:/bin/sh\n\
                      broken line\n";
const GROUP: &str = "root:x:0:\n\
                     wheel:x:10:root,user\n\
                     audio:x:29:user\n\
                     user:x:1000:\n\
                     staff:x:50:\n";

fn ids(uid: u32, gid: u32, additional_gids: &[u32]) -> Ids {
    Ids {
        uid,
        gid,
        additional_gids: additional_gids.to_vec(),
    }
}

#[test]
fn users_by_name_number_and_group() {
    let resolve = |user| resolve_user(user, Some(PASSWD), Some(GROUP));
    assert_eq!(resolve(""), Ok(ids(0, 0, &[10])));
    assert_eq!(resolve("user"), Ok(ids(1000, 1000, &[10, 29])));
    assert_eq!(resolve("1000"), Ok(ids(1000, 1000, &[10, 29])));
    assert_eq!(resolve("4242"), Ok(ids(4242, 0, &[])));
    assert_eq!(resolve("user:staff"), Ok(ids(1000, 50, &[])));
    assert_eq!(resolve("user:77"), Ok(ids(1000, 77, &[])));
    assert_eq!(resolve("4242:4343"), Ok(ids(4242, 4343, &[])));
    assert_eq!(resolve("daemon"), Ok(ids(1, 1, &[])));
    assert_eq!(resolve("nobody"), Err(UserError::NoUser("nobody".into())));
    assert_eq!(
        resolve("user:nogroup"),
        Err(UserError::NoGroup("nogroup".into()))
    );
    assert_eq!(resolve_user("7:8", None, None), Ok(ids(7, 8, &[])));
    assert_eq!(
        resolve_user("user", None, None),
        Err(UserError::NoUser("user".into()))
    );
}

fn image(config: serde_json::Value) -> ImageConfig {
    serde_json::from_value(json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": []}
    }))
    .unwrap()
}

#[test]
fn process_from_the_image() {
    let image = image(json!({
        "Entrypoint": ["/bin/echo", "hello"],
        "Cmd": ["world"],
        "Env": ["A=1", "PATH=/custom"],
        "WorkingDir": "srv/app",
        "User": "user",
        "StopSignal": "SIGQUIT",
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
        "Labels": {"maintainer": "someone", "org.opencontainers.image.os": "label wins"}
    }));
    let (spec, warnings) = spec_for_image(&image, &ids(1000, 1000, &[10]));
    assert!(warnings.is_empty());
    let process = spec.process().as_ref().unwrap();
    assert_eq!(
        process.args().as_ref().unwrap(),
        &["/bin/echo", "hello", "world"]
    );
    assert_eq!(process.env().as_ref().unwrap(), &["A=1", "PATH=/custom"]);
    assert_eq!(process.cwd().to_str(), Some("/srv/app"));
    assert_eq!(process.user().uid(), 1000);
    assert_eq!(process.user().gid(), 1000);
    assert_eq!(process.user().additional_gids().as_ref().unwrap(), &[10]);
    assert_eq!(process.terminal(), Some(false));
    let annotations = spec.annotations().as_ref().unwrap();
    assert_eq!(annotations[ANNOTATION_STOP_SIGNAL], "SIGQUIT");
    assert_eq!(annotations[ANNOTATION_EXPOSED_PORTS], "53/udp,80/tcp");
    assert_eq!(annotations["maintainer"], "someone");
    assert_eq!(annotations["org.opencontainers.image.os"], "label wins");
    assert_eq!(
        annotations["org.opencontainers.image.architecture"],
        "amd64"
    );
    // The rest is cella's default spec.
    let default = runtime_spec::default_spec();
    assert_eq!(spec.root(), default.root());
    assert_eq!(spec.mounts(), default.mounts());
    assert_eq!(spec.linux(), default.linux());
    assert_eq!(
        process.capabilities(),
        default.process().as_ref().unwrap().capabilities()
    );
}

#[test]
fn defaults_when_the_image_says_nothing() {
    let image = image(json!(null));
    let (spec, warnings) = spec_for_image(&image, &Ids::default());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let process = spec.process().as_ref().unwrap();
    assert_eq!(process.args().as_ref().unwrap(), &["sh"]);
    assert_eq!(
        process.env().as_ref().unwrap(),
        &["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    );
    assert_eq!(process.cwd().to_str(), Some("/"));
    assert_eq!(process.user().additional_gids(), &None);
    assert!(!spec
        .annotations()
        .as_ref()
        .unwrap()
        .contains_key(ANNOTATION_STOP_SIGNAL));

    let only_cmd = self::image(json!({"Cmd": ["/bin/sh", "-c", "true"], "Entrypoint": null}));
    let (spec, _) = spec_for_image(&only_cmd, &Ids::default());
    assert_eq!(
        spec.process().as_ref().unwrap().args().as_ref().unwrap(),
        &["/bin/sh", "-c", "true"]
    );
}
