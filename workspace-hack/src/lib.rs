//! No code: this crate's dependencies pin the features of dependencies the workspace shares (see its
//! Cargo.toml), so that every build of a workspace binary or test compiles them the same way.
