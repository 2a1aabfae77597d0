//! `churn-server`: a gRPC service that answers "how likely is customer X to leave, and why?".
//!
//! The server holds one model from the registry of `churn-models` (its promoted version, or the version
//! `NAME@VERSION` pins) and one feature
//! snapshot (a feature table written by `churn-features`) in memory, as a [`pair::ServingPair`]. Requests
//! score customers by id from the snapshot, or from features the caller supplies. When a new version is
//! promoted or a new snapshot appears, the [`reload`] task loads the new pair in the background, checks
//! that the snapshot fits the model's feature schema and swaps it in atomically; a failed load keeps the
//! old pair serving.
//!
//! Layout, one concern per module:
//! - [`proto`]: the generated `churn.v1` and `inference` APIs and the conversions between it and the domain;
//! - [`codec`]: the protobuf codec, with undecodable requests as the caller's error;
//! - [`config`]: command line, TOML file and `CHURN_*` environment settings;
//! - [`snapshot`], [`pair`], [`state`], [`reload`]: the served data and its live swap;
//! - [`scoring`]: scores and reasons from a pair, independent of gRPC;
//! - [`service`]: the thin gRPC service over [`scoring`];
//! - [`inference`], [`tensors`]: the Open Inference Protocol (`inference.GRPCInferenceService`, for
//!   tritonclient and KServe clients) over the same calls, and its tensors;
//! - [`error`]: the one mapping from errors to gRPC status codes;
//! - [`middleware`]: the guard, a tower layer each for request metrics, authentication, deadlines and
//!   load shedding;
//! - [`metrics`]: Prometheus metrics and their HTTP endpoint;
//! - [`connection`]: TCP connections whose answers ready together are sent together;
//! - [`server`]: wiring (health, reflection, TLS, gzip) and graceful shutdown;
//! - [`redact`]: keyed hashes that keep customer ids out of logs;
//! - [`loadgen`]: the load generator behind `churn-loadgen`.

pub mod codec;
pub mod config;
pub mod connection;
pub mod error;
pub mod inference;
pub mod loadgen;
pub mod metrics;
pub mod middleware;
pub mod pair;
pub mod proto;
pub use churn_features::redact;
pub mod reload;
pub mod scoring;
pub mod server;
pub mod service;
pub mod snapshot;
pub mod state;
pub mod tensors;

pub use config::ServerConfig;
pub use error::ServeError;
pub use server::{ServerHandle, start};

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    /// The modules `code` names through `crate::<module>`.
    fn uses(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
        let code: String = code
            .lines()
            .map(|line| line.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        let mut found = BTreeSet::new();
        for (at, prefix) in code.match_indices("crate::") {
            let rest = &code[at + prefix.len()..];
            // `crate::name` or `crate::{a, b::c}`.
            let items = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or_default(),
                None => rest,
            };
            for item in items.split(',') {
                let name: String = item
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if modules.contains(&name) {
                    found.insert(name);
                }
                if !rest.starts_with('{') {
                    break;
                }
            }
        }
        found
    }

    #[test]
    fn the_modules_import_each_other_without_a_cycle() {
        // Each module's code without its tests: `src/<module>.rs`, or every file under `src/<module>/`.
        fn code_of(path: &std::path::Path) -> String {
            if path.is_dir() {
                let mut files: Vec<_> = std::fs::read_dir(path).expect("module directory").collect();
                files.sort_by_key(|entry| entry.as_ref().map(|e| e.path()).ok());
                files
                    .into_iter()
                    .map(|entry| code_of(&entry.expect("entry").path()))
                    .collect()
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(path).expect("source");
                source
                    .split("#[cfg(test)]\nmod tests")
                    .next()
                    .unwrap_or_default()
                    .to_string()
            } else {
                String::new()
            }
        }
        let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
        let mut sources = BTreeMap::new();
        for entry in std::fs::read_dir(dir).expect("src") {
            let path = entry.expect("entry").path();
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            if !["lib", "main", "bin"].contains(&name.as_str()) {
                sources.insert(name, code_of(&path));
            }
        }
        let modules: BTreeSet<String> = sources.keys().cloned().collect();
        let graph: BTreeMap<&str, BTreeSet<String>> = sources
            .iter()
            .map(|(name, source)| {
                let mut used = uses(source, &modules);
                used.remove(name);
                (name.as_str(), used)
            })
            .collect();
        assert!(
            graph["state"].contains("pair"),
            "the scan finds imports: {graph:?}"
        );

        // Depth-first search; a module met again while still on the path closes a cycle.
        fn visit<'a>(
            module: &'a str,
            graph: &'a BTreeMap<&str, BTreeSet<String>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) {
            if let Some(start) = path.iter().position(|m| *m == module) {
                panic!("import cycle: {} -> {module}", path[start..].join(" -> "));
            }
            if !done.insert(module) {
                return;
            }
            path.push(module);
            for next in &graph[module] {
                visit(next, graph, path, done);
            }
            path.pop();
        }
        let mut done = BTreeSet::new();
        for module in graph.keys() {
            visit(module, &graph, &mut Vec::new(), &mut done);
        }
    }
}
