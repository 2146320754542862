use super::*;
use serde_json::json;

fn index(names: &[Option<&str>]) -> Index {
    let manifests: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut d =
                json!({"mediaType": OCI_MANIFEST, "digest": format!("sha256:{i}"), "size": i});
            if let Some(name) = name {
                d["annotations"] = json!({ REF_NAME: name });
            }
            d
        })
        .collect();
    serde_json::from_value(json!({"schemaVersion": 2, "manifests": manifests})).unwrap()
}

#[test]
fn tags_match_whole_names_and_tag_parts() {
    assert!(tag_matches("latest", "latest"));
    assert!(tag_matches("busybox:1.36", "1.36"));
    assert!(tag_matches("busybox:1.36", "busybox:1.36"));
    assert!(tag_matches("docker.io/library/busybox:1.36", "1.36"));
    assert!(tag_matches("busybox:latest", "busybox"));
    assert!(!tag_matches("busybox:1.36", "busybox"));
    assert!(!tag_matches("registry:5000/busybox", "5000/busybox"));
    assert!(!tag_matches("v1", "v2"));
}

#[test]
fn index_selection_by_tag_only_image_or_latest() {
    let one = index(&[Some("v1")]);
    assert_eq!(select_tagged(&one, None).unwrap().size, 0);
    assert_eq!(select_tagged(&one, Some("v1")).unwrap().size, 0);
    assert_eq!(
        select_tagged(&one, Some("v2")),
        Err(SelectError::NoTag {
            tag: "v2".into(),
            available: vec!["v1".into()]
        })
    );

    let two = index(&[Some("v1"), Some("latest"), None]);
    assert_eq!(select_tagged(&two, None).unwrap().size, 1);
    assert_eq!(select_tagged(&two, Some("v1")).unwrap().size, 0);

    let no_latest = index(&[Some("v1"), Some("v2")]);
    let err = select_tagged(&no_latest, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "2 images and none tagged \"latest\": choose one with SRC:TAG (tags: v1, v2)"
    );
    let same = index(&[Some("a:v1"), Some("b:v1")]);
    assert!(matches!(
        select_tagged(&same, Some("v1")),
        Err(SelectError::SameTag { .. })
    ));
    assert_eq!(select_tagged(&same, Some("b:v1")).unwrap().size, 1);
    assert!(matches!(
        select_tagged(&index(&[]), None),
        Err(SelectError::Empty { .. })
    ));
}

#[test]
fn docker_selection_by_repo_tags() {
    let images: Vec<DockerImage> = serde_json::from_value(json!([
        {"Config": "a.json", "RepoTags": ["busybox:latest", "busybox:1.36"], "Layers": ["l1"]},
        {"Config": "b.json", "RepoTags": null, "Layers": []},
        {"Config": "c.json", "RepoTags": ["alpine:3"], "Layers": []}
    ]))
    .unwrap();
    assert_eq!(
        select_docker(&images, Some("busybox")).unwrap().config,
        "a.json"
    );
    assert_eq!(
        select_docker(&images, Some("1.36")).unwrap().config,
        "a.json"
    );
    assert_eq!(
        select_docker(&images, Some("alpine:3")).unwrap().config,
        "c.json"
    );
    assert_eq!(select_docker(&images, None).unwrap().config, "a.json");
    assert!(select_docker(&images, Some("debian")).is_err());
}

#[test]
fn platform_selection_skips_other_platforms_and_attestations() {
    let index: Index = serde_json::from_value(json!({"manifests": [
        {"mediaType": OCI_MANIFEST, "digest": "sha256:1", "size": 1,
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": OCI_MANIFEST, "digest": "sha256:2", "size": 2,
         "platform": {"os": "unknown", "architecture": "unknown"}},
        {"mediaType": OCI_MANIFEST, "digest": "sha256:3", "size": 3,
         "platform": {"os": "linux", "architecture": "amd64"}}
    ]}))
    .unwrap();
    assert_eq!(select_platform(&index, ("linux", "amd64")).unwrap().size, 3);
    assert_eq!(select_platform(&index, ("linux", "arm64")).unwrap().size, 1);
    let err = select_platform(&index, ("linux", "s390x")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no manifest for linux/s390x in the image index (platforms: linux/arm64, unknown/unknown, \
         linux/amd64)"
    );
    let single: Index = serde_json::from_value(json!({"manifests": [
        {"mediaType": OCI_MANIFEST, "digest": "sha256:1", "size": 1}
    ]}))
    .unwrap();
    assert_eq!(
        select_platform(&single, ("linux", "amd64")).unwrap().size,
        1
    );
}
