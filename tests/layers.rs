//! The module graph, checked: the runtime's imports run one way between its layers (`server`
//! -> `http` -> `stream` -> the wire, see `shared/DESIGN.md` and the README's Layout), and
//! `tidings-redis` has no import cycle at all.
//!
//! The graph is read from the sources: every `crate::a::...` path outside comments (a `use`,
//! or a path in code) is an edge from the file's module to `a`; the root (`lib.rs`), which
//! only declares modules and re-exports them, is left out. Written here rather than with
//! `cargo modules dependencies --acyclic`: that tool builds for minutes in CI, and fails on
//! any cycle, also one inside a folder, which the layering allows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The runtime's layers, lowest first; `wire` is every file at the top of `src/`.
const LAYERS: &[(&str, &[&str])] = &[
    // layer, and the layers it may import (besides itself)
    ("wire", &[]),
    ("stream", &["wire"]),
    ("http", &["wire", "stream"]),
    // `Subscribed`, the hub's extractor, speaks the HTTP layer's `FromRequest`.
    ("hub", &["wire", "stream", "http"]),
    ("server", &["wire", "stream", "http"]),
    ("openapi", &["wire", "http"]),
    ("typescript", &["wire", "http", "openapi"]),
    ("client", &["wire"]),
    ("testing", &["wire", "client", "server"]),
    // Plain axum routes with tidings' extractor and refusals.
    ("axum", &["wire", "stream", "http"]),
];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The first segment of every `crate::...` path in `source`, outside comments.
fn imports(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if let Some(group) = after.strip_prefix('{') {
                // `use crate::{a, b::c}`: each top-level name.
                let group = group.split('}').next().unwrap_or_default();
                for item in group.split(',') {
                    let item = item.trim().split("::").next().unwrap_or_default();
                    if !item.is_empty() {
                        found.insert(item.to_owned());
                    }
                }
            } else if !name.is_empty() {
                found.insert(name);
            }
            rest = after;
        }
    }
    found
}

/// The module of `file` under `src`: its first path segment (`http/router.rs` -> `http`),
/// or its stem for a file at the top (`event.rs` -> `event`); `None` for the root.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let mut parts = relative.iter().map(|p| p.to_string_lossy().into_owned());
    let first = parts.next()?;
    match first.strip_suffix(".rs") {
        Some("lib") => None,
        Some(stem) => Some(stem.to_owned()),
        None => Some(first),
    }
}

fn crate_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

#[test]
fn the_runtime_imports_run_one_way_between_layers() {
    let src = crate_dir("runtime");
    let folders: BTreeSet<String> = LAYERS[1..].iter().map(|(l, _)| l.to_string()).collect();
    let layer = |module: &str| -> String {
        if folders.contains(module) {
            module.to_owned()
        } else {
            "wire".to_owned()
        }
    };
    let mut wrong = Vec::new();
    for file in sources(&src) {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let from = layer(&module);
        let allowed = LAYERS
            .iter()
            .find(|(l, _)| *l == from)
            .map(|(_, allowed)| *allowed)
            .unwrap_or_else(|| panic!("{} is in no layer", file.display()));
        for import in imports(&std::fs::read_to_string(&file).unwrap()) {
            let to = layer(&import);
            if to != from && !allowed.contains(&to.as_str()) {
                let file = file.strip_prefix(&src).unwrap().display();
                wrong.push(format!("{file} ({from}) imports crate::{import} ({to})"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_redis_crate_has_no_import_cycle() {
    let src = crate_dir("redis");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(&src) {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let imports = imports(&std::fs::read_to_string(&file).unwrap());
        graph.entry(module).or_default().extend(imports);
    }
    // Depth-first search; a module met again on the current path closes a cycle.
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut cycle = path[at..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if !done.insert(module.to_owned()) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if graph.contains_key(next)
                && let Some(cycle) = visit(next, graph, path, done)
            {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            panic!("an import cycle in tidings-redis: {}", cycle.join(" -> "));
        }
    }
    assert!(graph.len() >= 3, "the modules were read: {graph:?}");
}

#[test]
fn the_reader_finds_every_form_of_import() {
    let source = "use crate::a::B;\nuse crate::{c, d::E};\nlet x = crate::f::g(); // crate::not\n/// [x](crate::doc)\n";
    let found: Vec<String> = imports(source).into_iter().collect();
    assert_eq!(found, ["a", "c", "d", "f"]);
}
