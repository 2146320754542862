//! From an opened image to the plan of what to unpack: the chosen image's config and its
//! layers with the digests they must have. Every document read on the way is checked against
//! the digest and size its descriptor gives.

use std::path::Path;

use super::config::ImageConfig;
use super::digest::{Algorithm, Digest};
use super::manifest::{
    host_platform, is_index, select_docker, select_platform, select_tagged, Descriptor,
    DockerImage, Index, Manifest,
};
use super::source::{member_key, Source};
use super::BundleError;

/// Image indexes may nest (a tagged index pointing at a multi-platform index); deeper nesting
/// than this is refused.
const MAX_INDEX_DEPTH: usize = 4;

/// A layer to unpack.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerPlan {
    /// The file of the image holding the blob.
    pub name: String,
    pub media_type: String,
    /// The blob's digest and size, when the image records them (docker archives' legacy
    /// `<id>/layer.tar` files have none).
    pub digest: Option<Digest>,
    pub size: Option<u64>,
    /// The digest of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
}

#[derive(Debug)]
pub struct ImagePlan {
    pub config: ImageConfig,
    pub layers: Vec<LayerPlan>,
}

/// Reads a document of the image and checks it against its digest (and size when known).
fn read_verified(
    source: &Source,
    name: &str,
    digest: Option<&Digest>,
    size: Option<u64>,
) -> Result<Vec<u8>, BundleError> {
    let bytes = source.read_document(name)?;
    if let Some(size) = size.filter(|&size| size != bytes.len() as u64) {
        return Err(BundleError::SizeMismatch {
            name: name.to_string(),
            expected: size,
            actual: bytes.len() as u64,
        });
    }
    if let Some(digest) = digest {
        let actual = Digest::of(digest.algorithm(), &bytes);
        if &actual != digest {
            return Err(BundleError::DigestMismatch {
                name: name.to_string(),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
    }
    Ok(bytes)
}

fn parse<T: serde::de::DeserializeOwned>(name: &str, bytes: &[u8]) -> Result<T, BundleError> {
    serde_json::from_slice(bytes).map_err(|source| BundleError::Parse {
        name: name.to_string(),
        source,
    })
}

fn digest_of(descriptor: &Descriptor) -> Result<Digest, BundleError> {
    Digest::parse(&descriptor.digest).map_err(BundleError::Digest)
}

/// Reads the blob a descriptor points at, verified.
fn read_blob(source: &Source, descriptor: &Descriptor) -> Result<(String, Vec<u8>), BundleError> {
    let digest = digest_of(descriptor)?;
    let name = digest.blob_path();
    let bytes = read_verified(source, &name, Some(&digest), Some(descriptor.size))?;
    Ok((name, bytes))
}

/// The plan for the image tagged `tag` (see [`super::manifest`] for the choice).
pub fn plan(source: &Source, tag: Option<&str>) -> Result<ImagePlan, BundleError> {
    if source.exists("index.json") {
        plan_oci(source, tag)
    } else if source.exists("manifest.json") {
        plan_docker(source, tag)
    } else {
        Err(BundleError::NotAnImage {
            path: source.path().to_path_buf(),
        })
    }
}

fn plan_oci(source: &Source, tag: Option<&str>) -> Result<ImagePlan, BundleError> {
    let index: Index = parse(
        "index.json",
        &read_verified(source, "index.json", None, None)?,
    )?;
    let mut descriptor = select_tagged(&index, tag)?;
    let manifest = 'found: {
        for _ in 0..MAX_INDEX_DEPTH {
            let (name, bytes) = read_blob(source, &descriptor)?;
            // The descriptor's media type, else the document's own, else its shape.
            let value: serde_json::Value = parse(&name, &bytes)?;
            let own_type = value
                .get("mediaType")
                .and_then(|t| t.as_str())
                .unwrap_or("");
            let nested = is_index(&descriptor.media_type)
                || is_index(own_type)
                || (descriptor.media_type.is_empty() && value.get("manifests").is_some());
            if nested {
                let index: Index = parse(&name, &bytes)?;
                descriptor = select_platform(&index, host_platform())?;
            } else {
                break 'found parse::<Manifest>(&name, &bytes)?;
            }
        }
        return Err(BundleError::IndexTooDeep);
    };
    let (config_name, config_bytes) = read_blob(source, &manifest.config)?;
    let config: ImageConfig = parse(&config_name, &config_bytes)?;
    let diff_ids = diff_ids(&config, manifest.layers.len())?;
    let layers = manifest
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(layer, diff_id)| {
            let digest = digest_of(layer)?;
            Ok(LayerPlan {
                name: digest.blob_path(),
                media_type: layer.media_type.clone(),
                digest: Some(digest),
                size: Some(layer.size),
                diff_id,
            })
        })
        .collect::<Result<_, BundleError>>()?;
    Ok(ImagePlan { config, layers })
}

fn diff_ids(config: &ImageConfig, layers: usize) -> Result<Vec<Digest>, BundleError> {
    if config.rootfs.diff_ids.len() != layers {
        return Err(BundleError::LayerCount {
            layers,
            diff_ids: config.rootfs.diff_ids.len(),
        });
    }
    config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| Digest::parse(d).map_err(BundleError::Digest))
        .collect()
}

/// The digest a docker archive's file name carries: `blobs/<alg>/<hex>` (docker 25 and later)
/// or `<hex>.json` (configs before that).
pub fn digest_in_name(name: &str) -> Option<Digest> {
    let key = member_key(Path::new(name))?;
    let parts: Vec<&str> = key.split('/').collect();
    match parts[..] {
        ["blobs", "sha256", hex] => Digest::from_hex(Algorithm::Sha256, hex),
        ["blobs", "sha512", hex] => Digest::from_hex(Algorithm::Sha512, hex),
        [file] => Digest::from_hex(Algorithm::Sha256, file.strip_suffix(".json")?),
        _ => None,
    }
}

fn plan_docker(source: &Source, tag: Option<&str>) -> Result<ImagePlan, BundleError> {
    let bytes = read_verified(source, "manifest.json", None, None)?;
    let images: Vec<DockerImage> = parse("manifest.json", &bytes)?;
    let image = select_docker(&images, tag)?;
    let config_digest = digest_in_name(&image.config);
    let config_bytes = read_verified(source, &image.config, config_digest.as_ref(), None)?;
    let config: ImageConfig = parse(&image.config, &config_bytes)?;
    let diff_ids = diff_ids(&config, image.layers.len())?;
    let layers = image
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(name, diff_id)| LayerPlan {
            name: name.clone(),
            media_type: String::new(),
            digest: digest_in_name(name).filter(|_| name.contains('/')),
            size: None,
            diff_id,
        })
        .collect();
    Ok(ImagePlan { config, layers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_in_docker_archive_names() {
        let hex = "a".repeat(64);
        assert_eq!(
            digest_in_name(&format!("blobs/sha256/{hex}"))
                .unwrap()
                .to_string(),
            format!("sha256:{hex}")
        );
        assert_eq!(
            digest_in_name(&format!("{hex}.json")).unwrap().to_string(),
            format!("sha256:{hex}")
        );
        assert_eq!(digest_in_name(&format!("{hex}/layer.tar")), None);
        assert_eq!(digest_in_name("config.json"), None);
        assert_eq!(digest_in_name(&format!("blobs/md5/{hex}")), None);
    }
}
