//! The UTS namespace's names.

use std::ffi::CStr;

use nix::errno::Errno;

/// setdomainname(2); nix wraps only sethostname.
pub fn setdomainname(name: &CStr) -> Result<(), Errno> {
    // SAFETY: `name` points to name.to_bytes().len() valid bytes for the duration of the call.
    let ret = unsafe { libc::setdomainname(name.as_ptr(), name.to_bytes().len()) };
    Errno::result(ret).map(drop)
}
