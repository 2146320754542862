//! The container process: clone, the parent/child protocol, and the child's setup steps.

mod attributes;
pub mod channel;
pub mod exe;
pub mod init;
pub mod parent;
pub mod protocol;
