//! The image's documents (OCI `index.json`, image indexes and manifests, docker archives'
//! `manifest.json`) and the choice of one image among them: by tag, then by platform. Pure
//! functions over parsed documents; [`super::resolve`] feeds them from a [`super::Source`].

use std::collections::BTreeMap;

use serde::Deserialize;

/// The annotation an OCI image layout names an image with.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// An image index (`index.json` is one).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    #[serde(default)]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// An image manifest.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// One image of a docker archive's `manifest.json`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DockerImage {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    pub layers: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SelectError {
    #[error("the image has no images in {document}")]
    Empty { document: &'static str },
    #[error("no image tagged {tag:?} (tags: {})", list(.available))]
    NoTag { tag: String, available: Vec<String> },
    #[error(
        "{count} images and none tagged \"latest\": choose one with SRC:TAG (tags: {})",
        list(.available)
    )]
    Ambiguous {
        count: usize,
        available: Vec<String>,
    },
    #[error("{count} images are tagged {tag:?}")]
    SameTag { tag: String, count: usize },
    #[error("no manifest for {os}/{architecture} in the image index (platforms: {})", list(.available))]
    NoPlatform {
        os: &'static str,
        architecture: &'static str,
        available: Vec<String>,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// Whether a reference name (`latest`, `busybox:latest`, `docker.io/library/busybox:1.36`)
/// matches the tag the user gave: the whole name, or its tag after the last `:` of its last
/// path element, or (for `repo` given alone) `repo:latest`.
pub fn tag_matches(name: &str, wanted: &str) -> bool {
    if name == wanted {
        return true;
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.rsplit_once(':').map(|(_, tag)| tag);
    if tag == Some(wanted) {
        return true;
    }
    !wanted.contains(':') && name == format!("{wanted}:latest")
}

/// Chooses among named candidates: the ones matching `tag`, or without a tag the only one or
/// the one tagged `latest`. Returns the index of the choice.
fn choose(
    names: &[Vec<String>],
    tag: Option<&str>,
    document: &'static str,
) -> Result<usize, SelectError> {
    let available: Vec<String> = names.iter().flatten().cloned().collect();
    if names.is_empty() {
        return Err(SelectError::Empty { document });
    }
    let matching = |wanted: &str| -> Vec<usize> {
        (0..names.len())
            .filter(|&i| names[i].iter().any(|n| tag_matches(n, wanted)))
            .collect()
    };
    let found = match tag {
        Some(tag) => {
            let found = matching(tag);
            if found.is_empty() {
                return Err(SelectError::NoTag {
                    tag: tag.to_string(),
                    available,
                });
            }
            found
        }
        None if names.len() == 1 => vec![0],
        None => {
            let found = matching("latest");
            if found.is_empty() {
                return Err(SelectError::Ambiguous {
                    count: names.len(),
                    available,
                });
            }
            found
        }
    };
    match found[..] {
        [one] => Ok(one),
        _ => Err(SelectError::SameTag {
            tag: tag.unwrap_or("latest").to_string(),
            count: found.len(),
        }),
    }
}

/// The descriptor `index.json` names with `tag` (see [`tag_matches`]).
pub fn select_tagged(index: &Index, tag: Option<&str>) -> Result<Descriptor, SelectError> {
    let names: Vec<Vec<String>> = index
        .manifests
        .iter()
        .map(|d| d.annotations.get(REF_NAME).cloned().into_iter().collect())
        .collect();
    let chosen = choose(&names, tag, "index.json")?;
    Ok(index.manifests[chosen].clone())
}

/// The image of a docker archive's `manifest.json` with `tag` among its RepoTags.
pub fn select_docker(
    images: &[DockerImage],
    tag: Option<&str>,
) -> Result<DockerImage, SelectError> {
    let names: Vec<Vec<String>> = images
        .iter()
        .map(|image| image.repo_tags.clone().unwrap_or_default())
        .collect();
    let chosen = choose(&names, tag, "manifest.json")?;
    Ok(images[chosen].clone())
}

/// The OCI names of this machine's OS and architecture.
pub fn host_platform() -> (&'static str, &'static str) {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    };
    ("linux", architecture)
}

/// The manifest of a multi-platform index for `os`/`architecture`. Entries without a platform
/// count only when they are the only manifest (attestations carry `unknown/unknown`).
pub fn select_platform(
    index: &Index,
    (os, architecture): (&'static str, &'static str),
) -> Result<Descriptor, SelectError> {
    if let [only] = &index.manifests[..] {
        if only.platform.is_none() {
            return Ok(only.clone());
        }
    }
    let fits = |d: &&Descriptor| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == os && p.architecture == architecture)
    };
    index
        .manifests
        .iter()
        .find(fits)
        .cloned()
        .ok_or_else(|| SelectError::NoPlatform {
            os,
            architecture,
            available: index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .map(|p| format!("{}/{}", p.os, p.architecture))
                .collect(),
        })
}

/// Whether a descriptor or document points at an index rather than a manifest.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
