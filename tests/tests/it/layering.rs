//! The server's modules import downwards only (docs/ARCHITECTURE.md §8): this reads the
//! `crate::…` paths of every file of `server/src` (outside comments and test modules) and
//! fails on an import of a higher layer, an import circle, or a new module that has no
//! layer yet.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of the server and its layer: a module may use its own layer's
/// modules (without a circle) and those below, never those above.
const LAYERS: &[(&str, u8)] = &[
    // Foundations.
    ("clock", 0),
    ("secrets", 0),
    ("metrics", 0),
    ("policy", 0),
    ("db", 0),
    ("config", 1),
    ("audit", 1),
    ("error", 1),
    // Fan-out and what reads the database for the gate.
    ("bus", 2),
    ("tls", 2),
    ("backup", 2),
    ("facts", 2),
    ("throttle", 3),
    ("feed", 3),
    ("messages", 3),
    // The application state every handler gets.
    ("state", 4),
    ("auth", 5),
    ("app::exclusion", 5),
    ("gate", 6),
    // Who coordinates a channel, and who reads a case's identity: asked by the services.
    ("app::coordinators", 7),
    ("app::case_identity", 7),
    // Whose a sealed envelope is: asked by the services that keep one.
    ("app::sealed", 7),
    // Services.
    ("app::accounts", 7),
    ("app::attachments", 7),
    ("app::cases", 7),
    ("app::import", 7),
    ("app::channels", 7),
    ("app::charter", 7),
    ("app::field_reports", 7),
    ("app::group_coordinators", 7),
    ("app::keys", 7),
    ("app::key_log", 7),
    ("app::invitations", 7),
    ("app::linking", 7),
    ("app::meetings", 7),
    ("app::notices", 7),
    ("app::practice", 7),
    ("app::prekeys", 7),
    ("app::referrals", 7),
    ("app::reports", 7),
    ("app::retention", 7),
    // Entry points.
    ("cli", 8),
    ("http", 9),
    ("ws", 9),
    ("web", 9),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules each top-level module (and each service of `app/`) uses, from its files'
/// `crate::name` paths.
fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let mut parts = relative.components().map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        });
        let first = parts.next().unwrap_or_default();
        // The services are the modules of `app/`, each a module of its own here.
        let module = match (first.as_str(), parts.next()) {
            ("app", Some(service)) if service != "mod" => format!("app::{service}"),
            _ => first,
        };
        if module == "lib" || module == "main" || module == "app" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let used = graph.entry(module.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (index, _) in line.match_indices("crate::") {
                let rest = &line[index + "crate::".len()..];
                let word = |text: &str| -> String {
                    text.chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect()
                };
                let name = word(rest);
                if name == "app" {
                    // `crate::app::x`, or `crate::app::{x, y}`.
                    let inner = rest.trim_start_matches("app::");
                    let names: Vec<String> = match inner.strip_prefix('{') {
                        Some(group) => group
                            .split('}')
                            .next()
                            .unwrap_or_default()
                            .split(',')
                            .map(|n| word(n.trim()))
                            .collect(),
                        None => vec![word(inner)],
                    };
                    for service in names.into_iter().filter(|n| !n.is_empty()) {
                        let target = format!("app::{service}");
                        if target != module {
                            used.insert(target);
                        }
                    }
                    continue;
                }
                if !name.is_empty() && name != module {
                    used.insert(name);
                }
            }
        }
    }
    graph
}

/// A circle among the modules, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut found = path[start..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_server_modules_import_downwards_only_and_in_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src");
    let graph = imports(&src);
    assert!(graph.len() > 20, "the scan found the modules");
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut wrong = Vec::new();
    for (module, used) in &graph {
        let Some(own) = layer.get(module.as_str()) else {
            wrong.push(format!("{module}: not in LAYERS (give it a layer)"));
            continue;
        };
        for target in used {
            match layer.get(target.as_str()) {
                Some(theirs) if theirs > own => wrong.push(format!(
                    "{module} (layer {own}) uses {target} (layer {theirs})"
                )),
                Some(_) => {}
                None => wrong.push(format!("{module} uses {target}, which has no layer")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(circle(&graph), None, "an import circle");
}

#[test]
fn the_circle_check_finds_a_circle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("db", vec!["channels"]),
        ("channels", vec!["charter"]),
        ("charter", vec!["channels"]),
    ]
    .into_iter()
    .map(|(m, used)| (m.to_owned(), used.into_iter().map(str::to_owned).collect()))
    .collect();
    let found = circle(&graph).expect("the circle is found");
    assert!(found.contains(&"charter".to_owned()) && found.contains(&"channels".to_owned()));
}
