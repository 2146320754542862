//! Control groups: one small manager interface with v1 and v2 implementations.
