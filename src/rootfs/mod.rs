//! The container's root filesystem: mounts, devices, pivot_root, masked and readonly paths.
