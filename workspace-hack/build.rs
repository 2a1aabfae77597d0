//! Empty: Cargo takes a package's build-dependencies into account only when it has a build script.

fn main() {}
