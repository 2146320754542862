//! Loading and checking config.json, through the runtime-spec crate.

use std::path::Path;

use oci_spec::runtime::Spec;

/// Loads and validates `<bundle>/config.json`; the message names the file, field and problem.
pub fn load(bundle: &Path) -> Result<Spec, String> {
    let spec = runtime_spec::load_config(bundle).map_err(|e| e.to_string())?;
    runtime_spec::validate(&spec, bundle).map_err(|e| e.to_string())?;
    for w in runtime_spec::validate::warnings(&spec) {
        log::warn!("{w}");
    }
    Ok(spec)
}
