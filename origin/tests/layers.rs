//! The shape of origin's code, checked from its source: which file may use which.
//!
//! Layers, lowest first (a file uses only its own layer and those below it):
//! 1. leaves: `clock`, `config`, `crypto`, `html`, `peer_keys`, `blobs`, `cluster`;
//! 2. `db` (the writer, the outbox, the write position);
//! 3. `error`;
//! 4. the domains (their types, stores and services) and `state`, which holds the domains'
//!    runtime parts and is handed to their services;
//! 5. transport: each domain's `routes.rs` and `pages.rs`, the audit middleware and the
//!    console's assets, `http/`, `rpc`, `openapi`, `startup`, `main`.
//!
//! And no file reaches itself again through the files it uses: the graph of `crate::`
//! paths between files has no cycle (so neither do the domains, nor a domain and `state`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/`, as a path relative to it.
fn files(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(src()).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The source without comments and without its unit tests (which may reach anywhere).
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// The paths a `crate::` use tree names: `crate::a::{b::c, d}` gives `a::b::c` and `a::d`.
fn paths_of(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let (mut paths, _) = tree(rest, Vec::new());
        out.append(&mut paths);
    }
    out
}

/// Parses one use tree at the start of `s` under `prefix`; returns its paths and the rest.
fn tree(s: &str, prefix: Vec<String>) -> (Vec<Vec<String>>, &str) {
    let mut path = prefix;
    let mut s = s.trim_start();
    loop {
        if let Some(inner) = s.strip_prefix('{') {
            let mut all = Vec::new();
            let mut rest = inner;
            loop {
                rest = rest.trim_start();
                if let Some(r) = rest.strip_prefix('}') {
                    return (all, r);
                }
                let (mut paths, r) = tree(rest, path.clone());
                all.append(&mut paths);
                rest = r.trim_start();
                rest = rest.strip_prefix(',').unwrap_or(rest);
                if rest.is_empty() {
                    return (all, rest);
                }
            }
        }
        let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
        if end > 0 {
            path.push(s[..end].to_string());
        }
        s = &s[end..];
        match s.strip_prefix("::") {
            Some(r) => s = r,
            None => {
                // `a as b` and anything else after the last segment end this path.
                let skip = s.find([',', '}', ';']).filter(|&i| s[..i].trim_start().starts_with("as ")).unwrap_or(0);
                return (vec![path], &s[skip..]);
            }
        }
    }
}

/// The file a path lands in: the deepest module file it names.
fn file_of(path: &[String]) -> Option<String> {
    let root = src();
    let (mut dir, mut found) = (root.clone(), None);
    for seg in path {
        if dir.join(format!("{seg}.rs")).is_file() {
            found = Some(dir.join(format!("{seg}.rs")));
            dir = dir.join(seg);
        } else if dir.join(seg).join("mod.rs").is_file() {
            dir = dir.join(seg);
            found = Some(dir.join("mod.rs"));
        } else {
            break;
        }
    }
    found.map(|f| f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    all.sort();
    let mut g = BTreeMap::new();
    for f in &all {
        let code = code_of(&std::fs::read_to_string(src().join(f)).unwrap());
        let uses: BTreeSet<String> = paths_of(&code).iter().filter_map(|p| file_of(p)).filter(|t| t != f).collect();
        g.insert(f.clone(), uses);
    }
    g
}

const LEAVES: &[&str] = &["clock", "config", "crypto", "html", "peer_keys", "blobs", "cluster"];
const TRANSPORT: &[&str] = &["http", "rpc", "openapi", "startup", "main", "lib"];

fn layer(file: &str) -> u8 {
    let top = file.split('/').next().unwrap().trim_end_matches(".rs");
    let name = file.rsplit('/').next().unwrap();
    if LEAVES.contains(&top) {
        1
    } else if top == "db" {
        2
    } else if top == "error" {
        3
    } else if TRANSPORT.contains(&top) || matches!(name, "routes.rs" | "pages.rs") || matches!(file, "console/audit.rs" | "console/assets.rs") {
        5
    } else {
        4
    }
}

#[test]
fn the_parser_reads_use_trees() {
    let p = paths_of("use crate::db::{self, Db, outbox::Outbox as O};\nlet x = crate::clock::now();");
    let p: Vec<String> = p.iter().map(|p| p.join("::")).collect();
    assert_eq!(p, ["db::self", "db::Db", "db::outbox::Outbox", "clock::now"]);
    assert_eq!(file_of(&["db".into(), "outbox".into(), "Outbox".into()]).as_deref(), Some("db/outbox.rs"));
    assert_eq!(file_of(&["clock".into(), "now".into()]).as_deref(), Some("clock.rs"));
}

#[test]
fn no_file_uses_a_layer_above_its_own() {
    let mut wrong = Vec::new();
    for (from, uses) in graph() {
        for to in uses {
            if layer(&to) > layer(&from) {
                wrong.push(format!("{from} (layer {}) uses {to} (layer {})", layer(&from), layer(&to)));
            }
        }
    }
    assert!(wrong.is_empty(), "upward uses:\n{}", wrong.join("\n"));
}

#[test]
fn no_file_reaches_itself_through_the_files_it_uses() {
    let g = graph();
    assert!(g.len() > 50 && g.values().map(BTreeSet::len).sum::<usize>() > 200, "the scan found too little: {g:?}");
    // Depth-first search with colours; a grey file met again closes a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    let mut colour: BTreeMap<&str, Colour> = g.keys().map(|k| (k.as_str(), Colour::White)).collect();
    fn visit<'a>(
        f: &'a str,
        g: &'a BTreeMap<String, BTreeSet<String>>,
        colour: &mut BTreeMap<&'a str, Colour>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        colour.insert(f, Colour::Grey);
        stack.push(f);
        for to in &g[f] {
            match colour[to.as_str()] {
                Colour::Grey => {
                    let at = stack.iter().position(|s| s == to).unwrap();
                    let mut cycle: Vec<String> = stack[at..].iter().map(|s| s.to_string()).collect();
                    cycle.push(to.clone());
                    return Some(cycle);
                }
                Colour::White => {
                    if let Some(c) = visit(to, g, colour, stack) {
                        return Some(c);
                    }
                }
                Colour::Black => {}
            }
        }
        stack.pop();
        colour.insert(f, Colour::Black);
        None
    }
    for f in g.keys() {
        if colour[f.as_str()] == Colour::White {
            if let Some(cycle) = visit(f, &g, &mut colour, &mut Vec::new()) {
                panic!("a cycle: {}", cycle.join(" -> "));
            }
        }
    }
}
