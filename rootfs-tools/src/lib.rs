//! Root filesystems and bundles for cella's tests and examples: a busybox rootfs, bundles
//! unpacked from OCI image layouts and docker archives, and overlay clones of bundles.

mod busybox;
pub mod clone;
mod elf;
pub mod image;
pub mod unpack;

pub use busybox::{
    busybox_rootfs, BusyboxError, BUSYBOX, BUSYBOX_PACKAGE, ETC_GROUP, ETC_PASSWD, NOBODY_ID,
    USER_ID,
};
pub use clone::{clone_bundle, remove_bundle, CloneError};
pub use image::{bundle, BundleError, BundleOptions, BundleReport, ImageRef};
