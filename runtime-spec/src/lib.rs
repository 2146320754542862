//! The OCI runtime-spec model cella uses, on top of `oci_spec::runtime`. No host calls except
//! reading (and, for `spec`, writing) config.json and checking that the rootfs exists.
//!
//! Modules:
//! - [`load`]: read `<bundle>/config.json` into a [`Spec`], with errors naming the JSON field
//!   path, line and column.
//! - [`validate`](mod@validate): every check decidable from the config before anything runs
//!   ([`validate()`](fn@validate), [`ValidationError`]).
//! - [`signal`]: [`validate_signal`] parses the signal given to `kill`.
//! - [`defaults`]: the config `cella spec [--rootless]` writes.
//! - [`json`]: deterministic, runc-ordered config.json text for a [`Spec`].
//! - [`features`](mod@features): the `features` document and the switches saying what cella
//!   implements.
//! - [`mount_options`]: the recognised mount options and what each means.
//! - [`state`]: the container state, as the OCI state (hooks' stdin) and as runc's `state`
//!   output.
//! - [`version`]: `ociVersion` parsing and the supported range.

pub mod defaults;
pub mod features;
pub mod json;
pub mod load;
pub mod mount_options;
pub mod signal;
pub mod state;
pub mod validate;
pub mod version;

pub use oci_spec::runtime::Spec;

pub use defaults::{
    default_spec, default_spec_rootless, to_rootless, write_default_spec, write_spec,
    WriteSpecError,
};
pub use features::{features, features_with, FeatureSwitches, Features};
pub use json::spec_to_json;
pub use load::{
    load_config, load_config_with_warnings, load_process, parse_config, parse_process, LoadError,
    Loaded, CONFIG_FILE,
};
pub use mount_options::{parse_mount_option, MountOption, MOUNT_OPTIONS};
pub use signal::validate_signal;
pub use state::{format_rfc3339_nano, State, Status};
pub use validate::{validate, validate_process, ValidationError};
pub use version::{parse_oci_version, OciVersion, OCI_VERSION_MAX, OCI_VERSION_MIN};

#[cfg(test)]
pub(crate) mod test_fixtures {
    //! The runtime-spec schemas and fixtures copied under tests/schema.
    use std::path::PathBuf;

    pub(crate) fn read(relative: &str) -> String {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/schema")
            .join(relative);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub(crate) fn config_good(name: &str) -> String {
        read(&format!("test/config/good/{name}.json"))
    }

    pub(crate) fn config_bad(name: &str) -> String {
        read(&format!("test/config/bad/{name}.json"))
    }
}
