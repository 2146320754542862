//! Root filesystems for cella's tests and examples.

mod busybox;
mod elf;

pub use busybox::{
    busybox_rootfs, BusyboxError, BUSYBOX, BUSYBOX_PACKAGE, ETC_GROUP, ETC_PASSWD, NOBODY_ID,
    USER_ID,
};
