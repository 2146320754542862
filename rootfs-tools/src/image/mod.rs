//! Bundles straight from images: an OCI image layout (a directory or a tar of one) or a docker
//! archive (`docker save` output, as a tar or unpacked), read in place.
//!
//! [`bundle`] chooses the image ([`manifest`]), checks every document and blob against its
//! digest ([`resolve`], [`stream`]), unpacks the layers in order into `<out>/rootfs`
//! ([`crate::unpack`]) and writes `<out>/config.json` from the image config ([`config`]).

pub mod config;
pub mod digest;
pub mod layer;
pub mod manifest;
pub mod resolve;
pub mod source;
mod stream;

pub use stream::LayerReport;

use std::fs;
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use pathrs::flags::OpenFlags;
use pathrs::Root;

use crate::unpack::{UnpackError, Unpacker};
pub use config::{resolve_user, spec_for_image, Ids, ImageConfig, UserError};
pub use digest::{Digest, DigestError};
pub use layer::Compression;
pub use manifest::SelectError;
pub use resolve::{plan, ImagePlan, LayerPlan};
pub use source::{Source, SourceError};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("no image at {0:?}")]
    NoImage(String),
    #[error("{path} has neither index.json (OCI image layout) nor manifest.json (docker archive)")]
    NotAnImage { path: PathBuf },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Digest(DigestError),
    #[error("parse {name}")]
    Parse {
        name: String,
        source: serde_json::Error,
    },
    #[error("image indexes nest too deep")]
    IndexTooDeep,
    #[error("{name} is {actual} bytes, its descriptor says {expected}")]
    SizeMismatch {
        name: String,
        expected: u64,
        actual: u64,
    },
    #[error("{name} has digest {actual}, expected {expected}")]
    DigestMismatch {
        name: String,
        expected: String,
        actual: String,
    },
    #[error(
        "layer {name} unpacks to a tar with digest {actual}, the config's diff_id is {expected}"
    )]
    DiffIdMismatch {
        name: String,
        expected: String,
        actual: String,
    },
    #[error("the image has {layers} layers but its config lists {diff_ids} diff_ids")]
    LayerCount { layers: usize, diff_ids: usize },
    #[error("{path} exists and is not empty")]
    OutNotEmpty { path: PathBuf },
    #[error("create {path}")]
    CreateOut { path: PathBuf, source: io::Error },
    #[error("read layer {name}")]
    ReadLayer { name: String, source: io::Error },
    #[error("unpack layer {name}")]
    Layer { name: String, source: UnpackError },
    #[error("open rootfs {path}")]
    OpenRoot {
        path: PathBuf,
        source: pathrs::error::Error,
    },
    #[error("read {path} of the image")]
    ReadEtc {
        path: &'static str,
        source: io::Error,
    },
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    WriteSpec(#[from] runtime_spec::WriteSpecError),
}

/// An image and the tag to pick in it: `SRC[:TAG]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub path: PathBuf,
    pub tag: Option<String>,
}

impl ImageRef {
    /// Splits `SRC[:TAG]`: the longest prefix before a `:` that exists is the image, so paths
    /// with colons and tags with colons (`archive.tar:busybox:latest`) both work.
    pub fn parse(text: &str) -> Result<ImageRef, BundleError> {
        ImageRef::parse_with(text, |path| path.exists())
    }

    fn parse_with(text: &str, exists: impl Fn(&Path) -> bool) -> Result<ImageRef, BundleError> {
        if exists(Path::new(text)) {
            return Ok(ImageRef {
                path: text.into(),
                tag: None,
            });
        }
        let colons = text.match_indices(':').map(|(i, _)| i).collect::<Vec<_>>();
        for &i in colons.iter().rev() {
            let (path, tag) = (&text[..i], &text[i + 1..]);
            if !path.is_empty() && !tag.is_empty() && exists(Path::new(path)) {
                return Ok(ImageRef {
                    path: path.into(),
                    tag: Some(tag.to_string()),
                });
            }
        }
        Err(BundleError::NoImage(text.to_string()))
    }
}

#[derive(Debug, Clone, Default)]
pub struct BundleOptions {
    /// Show a progress bar on stderr when it is a terminal.
    pub progress: bool,
}

/// What [`bundle`] did.
#[derive(Debug, Clone)]
pub struct BundleReport {
    pub layers: Vec<LayerReport>,
    pub entries: u64,
    pub file_bytes: u64,
    /// Things the user should know (attributes the filesystem refused, no command in the
    /// image).
    pub warnings: Vec<String>,
}

/// Makes the bundle `out` (`rootfs/` and `config.json`) from `image`. `out` must not exist or
/// be empty; on failure what was made is removed again.
pub fn bundle(
    image: &ImageRef,
    out: &Path,
    options: &BundleOptions,
) -> Result<BundleReport, BundleError> {
    let source = Source::open(&image.path)?;
    let plan = plan(&source, image.tag.as_deref())?;
    let created = prepare_out(out)?;
    let result = build(&source, &plan, out, options);
    if result.is_err() {
        // Best effort: the error being returned matters more than one from the cleanup.
        // remove_dir_all does not follow symlinks, so a hostile rootfs cannot redirect it.
        if created {
            let _ = fs::remove_dir_all(out);
        } else {
            let _ = fs::remove_dir_all(out.join("rootfs"));
            let _ = fs::remove_file(out.join(runtime_spec::CONFIG_FILE));
        }
    }
    result
}

/// Creates `out` (or accepts it empty); true when it was created here.
fn prepare_out(out: &Path) -> Result<bool, BundleError> {
    let create_err = |source| BundleError::CreateOut {
        path: out.to_path_buf(),
        source,
    };
    let created = match fs::create_dir(out) {
        Ok(()) => true,
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            let mut entries = fs::read_dir(out).map_err(create_err)?;
            if entries.next().is_some() {
                return Err(BundleError::OutNotEmpty {
                    path: out.to_path_buf(),
                });
            }
            false
        }
        Err(err) => return Err(create_err(err)),
    };
    let rootfs = out.join("rootfs");
    fs::create_dir(&rootfs).map_err(|source| BundleError::CreateOut {
        path: rootfs,
        source,
    })?;
    Ok(created)
}

fn progress_bar(options: &BundleOptions, total: u64) -> ProgressBar {
    if !options.progress || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .expect("a valid template")
    .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn build(
    source: &Source,
    plan: &ImagePlan,
    out: &Path,
    options: &BundleOptions,
) -> Result<BundleReport, BundleError> {
    let rootfs = out.join("rootfs");
    let mut unpacker = Unpacker::new(&rootfs).map_err(|source| BundleError::Layer {
        name: String::new(),
        source,
    })?;
    let mut total = 0;
    for layer in &plan.layers {
        total += match layer.size {
            Some(size) => size,
            None => source.open_file(&layer.name)?.1,
        };
    }
    let bar = progress_bar(options, total);
    let mut layers = Vec::new();
    for (i, layer) in plan.layers.iter().enumerate() {
        bar.set_message(format!("layer {}/{}", i + 1, plan.layers.len()));
        let report = stream::unpack_layer(source, layer, &mut unpacker, &bar);
        layers.push(report.inspect_err(|_| bar.abandon())?);
    }
    bar.finish_and_clear();
    let stats = unpacker.finish().map_err(|source| BundleError::Layer {
        name: String::new(),
        source,
    })?;

    let root = Root::open(&rootfs).map_err(|source| BundleError::OpenRoot {
        path: rootfs.clone(),
        source,
    })?;
    let passwd = read_etc(&root, "etc/passwd")?;
    let group = read_etc(&root, "etc/group")?;
    let empty = config::ContainerConfig::default();
    let user = plan.config.config.as_ref().unwrap_or(&empty).user.clone();
    let ids = resolve_user(
        user.as_deref().unwrap_or(""),
        passwd.as_deref(),
        group.as_deref(),
    )?;
    let (spec, mut warnings) = spec_for_image(&plan.config, &ids);
    runtime_spec::write_spec(out, &spec)?;
    warnings.extend(stats.warnings);
    Ok(BundleReport {
        layers,
        entries: stats.entries,
        file_bytes: stats.file_bytes,
        warnings,
    })
}

/// Reads a file of the unpacked rootfs, resolved inside it (`/etc/passwd` may be a symlink
/// anywhere); `None` when there is none.
fn read_etc(root: &Root, path: &'static str) -> Result<Option<String>, BundleError> {
    let file = match root.open_subpath(path, OpenFlags::O_RDONLY) {
        Ok(file) => file,
        Err(err) if crate::unpack::is_not_found(&err) => return Ok(None),
        Err(err) => {
            return Err(BundleError::ReadEtc {
                path,
                source: io::Error::other(err),
            })
        }
    };
    let mut text = String::new();
    file.take(source::MAX_DOCUMENT)
        .read_to_string(&mut text)
        .map_err(|source| BundleError::ReadEtc { path, source })?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_refs_split_at_the_longest_existing_prefix() {
        let exists = |p: &Path| ["img", "a:b", "archive.tar"].contains(&p.to_str().unwrap());
        let parse = |text| ImageRef::parse_with(text, exists);
        let image = |path: &str, tag: Option<&str>| ImageRef {
            path: path.into(),
            tag: tag.map(str::to_string),
        };
        assert_eq!(parse("img").unwrap(), image("img", None));
        assert_eq!(parse("img:v1").unwrap(), image("img", Some("v1")));
        assert_eq!(parse("a:b").unwrap(), image("a:b", None));
        assert_eq!(parse("a:b:c").unwrap(), image("a:b", Some("c")));
        assert_eq!(
            parse("archive.tar:busybox:latest").unwrap(),
            image("archive.tar", Some("busybox:latest"))
        );
        assert!(matches!(parse("nope:v1"), Err(BundleError::NoImage(_))));
        assert!(matches!(parse("img:"), Err(BundleError::NoImage(_))));
    }
}
