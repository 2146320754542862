//! Loading and checking config.json, through the runtime-spec crate.

use std::path::Path;

use oci_spec::runtime::Spec;

/// Loads and validates `<bundle>/config.json`; the message names the file, field and problem.
pub fn load(bundle: &Path) -> Result<Spec, String> {
    let path = bundle.join("config.json");
    Spec::load(&path).map_err(|e| format!("{}: {e}", path.display()))
}
