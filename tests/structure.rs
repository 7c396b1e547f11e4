//! The shape of the code, checked like behaviour: modules under `src/` depend on each other in
//! one direction. Each `.rs` file is a module (`mod.rs` and `lib.rs` name their folder); it
//! depends on every module its code names with a `crate::…` path — in `use` lines, grouped
//! `use crate::{a, b::{c, d}}` trees and inline paths — outside comments and string literals.
//! A path is credited to the longest module it names (`crate::auth::access::Member` is
//! `auth::access`). Edges between a module and its own parent or child are left out: a folder
//! re-exporting its parts and a part using its folder's items are one unit. `super::` paths
//! are not followed (an entity's two-way sea-orm relations are one unit too), nor are the
//! binaries (`main.rs`, `bin/`), whose `crate` is not the library.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Cycles that exist today and are being removed by work in flight; each entry is one cycle's
/// exact set of modules. Delete an entry once its cycle is gone (the test says when). Nothing
/// else may be added here: a new cycle is fixed, not allowed.
const BEING_REMOVED: &[&[&str]] = &[];

#[test]
fn modules_under_src_have_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = Graph::read(&src);
    assert!(
        graph.edges.len() > 20,
        "read too few modules from {}: {:?}",
        src.display(),
        graph.edges.keys().collect::<Vec<_>>()
    );
    let mut findings = Vec::new();
    let mut allowed_seen = BTreeSet::new();
    for cycle in graph.cycles() {
        let names: BTreeSet<&str> = cycle.iter().map(String::as_str).collect();
        if let Some(allowed) = BEING_REMOVED
            .iter()
            .find(|a| a.iter().copied().collect::<BTreeSet<_>>() == names)
        {
            eprintln!("allowed (being removed): {}", cycle.join(" <-> "));
            allowed_seen.insert(allowed.join(" <-> "));
            continue;
        }
        let mut finding = format!("import cycle: {}", cycle.join(" <-> "));
        for (from, to, at) in graph.edges_within(&cycle) {
            finding.push_str(&format!("\n    {from} -> {to}  ({at})"));
        }
        findings.push(finding);
    }
    for allowed in BEING_REMOVED {
        let name = allowed.join(" <-> ");
        if !allowed_seen.contains(&name) {
            findings.push(format!(
                "the allowed cycle {name} no longer exists: delete it from BEING_REMOVED"
            ));
        }
    }
    assert!(findings.is_empty(), "\n{}\n", findings.join("\n"));
}

/// The request side of who is calling (`auth::extract`) is for handlers; everything else —
/// services, jobs, the read copies — takes the caller's standing from `auth::access`.
#[test]
fn only_the_http_side_uses_the_request_extractors() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = Graph::read(&src);
    let http_side = |m: &str| {
        m.rsplit("::")
            .next()
            .is_some_and(|last| last.ends_with("routes"))
            || ["startup", "openapi", "http"]
                .iter()
                .any(|top| m == *top || m.starts_with(&format!("{top}::")))
    };
    let offenders: Vec<String> = graph
        .edges
        .iter()
        .filter(|(from, _)| !http_side(from))
        .filter_map(|(from, to)| {
            to.get("auth::extract")
                .map(|at| format!("{from} uses auth::extract ({at}): use auth::access"))
        })
        .collect();
    assert!(offenders.is_empty(), "\n{}\n", offenders.join("\n"));
}

#[test]
fn the_reader_sees_code_paths_and_not_comments_or_strings() {
    let text = r##"
        use crate::a::b::{self, C};
        use crate::{d, e::{f, g::H}};
        // use crate::comment;
        /* crate::block /* nested crate::deeper */ */
        let s = "crate::string // not a comment";
        let r = r#"crate::raw"#;
        let c = '"'; let q = '\''; let l: &'static str = x; crate::inline::call();
    "##;
    let found: BTreeSet<String> = crate_paths(text).into_iter().map(|(p, _)| p).collect();
    let expected: BTreeSet<String> = ["a::b", "a::b::C", "d", "e::f", "e::g::H", "inline::call"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, expected);

    let mut graph = Graph::default();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "d")] {
        graph
            .edges
            .entry(from.into())
            .or_default()
            .insert(to.into(), "here".into());
        graph.edges.entry(to.into()).or_default();
    }
    assert_eq!(graph.cycles(), vec![vec!["a", "b", "c"]]);
}

#[derive(Default)]
struct Graph {
    /// module → (module it names → where it first names it, `file:line`).
    edges: BTreeMap<String, BTreeMap<String, String>>,
}

impl Graph {
    fn read(src: &Path) -> Graph {
        let mut files = Vec::new();
        collect_rs(src, &mut files);
        let modules: BTreeMap<String, PathBuf> = files
            .into_iter()
            .filter_map(|f| module_of(src, &f).map(|m| (m, f)))
            .collect();
        let mut graph = Graph::default();
        for (module, file) in &modules {
            let text = std::fs::read_to_string(file)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            let targets = graph.edges.entry(module.clone()).or_default();
            for (path, line) in crate_paths(&text) {
                let Some(target) = longest_module(&modules, &path) else {
                    continue;
                };
                let related = target == *module
                    || module.starts_with(&format!("{target}::"))
                    || target.starts_with(&format!("{module}::"))
                    || module.is_empty()
                    || target.is_empty();
                if !related {
                    let rel = file
                        .strip_prefix(src.parent().unwrap_or(src))
                        .unwrap_or(file);
                    targets
                        .entry(target)
                        .or_insert_with(|| format!("{}:{line}", rel.display()));
                }
            }
        }
        graph
    }

    /// Each set of modules that reach one another (more than one module), sorted by name.
    fn cycles(&self) -> Vec<Vec<String>> {
        let reach = |from: &String| {
            let mut seen = BTreeSet::new();
            let mut todo = vec![from.clone()];
            while let Some(m) = todo.pop() {
                for next in self.edges.get(&m).into_iter().flat_map(|t| t.keys()) {
                    if seen.insert(next.clone()) {
                        todo.push(next.clone());
                    }
                }
            }
            seen
        };
        let reached: BTreeMap<&String, BTreeSet<String>> =
            self.edges.keys().map(|m| (m, reach(m))).collect();
        let mut placed = BTreeSet::new();
        let mut cycles = Vec::new();
        for (m, from_m) in &reached {
            if placed.contains(*m) || !from_m.contains(*m) {
                continue;
            }
            let cycle: Vec<String> = from_m
                .iter()
                .filter(|o| reached.get(o).is_some_and(|r| r.contains(*m)))
                .cloned()
                .collect();
            if cycle.len() > 1 {
                placed.extend(cycle.iter().cloned());
                cycles.push(cycle);
            }
        }
        cycles
    }

    fn edges_within<'a>(&'a self, cycle: &'a [String]) -> Vec<(&'a str, &'a str, &'a str)> {
        cycle
            .iter()
            .flat_map(|from| {
                self.edges[from]
                    .iter()
                    .filter(|(to, _)| cycle.contains(to))
                    .map(move |(to, at)| (from.as_str(), to.as_str(), at.as_str()))
            })
            .collect()
    }
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// `src/auth/access.rs` → `auth::access`, `src/audit/mod.rs` → `audit`, `src/lib.rs` → ``;
/// `None` for the binaries.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") || parts == ["main"] {
        return None;
    }
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    Some(parts.join("::"))
}

fn longest_module(modules: &BTreeMap<String, PathBuf>, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|m| modules.contains_key(m))
}

/// Every path named after `crate::` in the code of `text`, with its line; a grouped use tree
/// gives one path per leaf.
fn crate_paths(text: &str) -> Vec<(String, usize)> {
    let code = code_only(text);
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !is_ident(chars[i - 1]);
        if starts_word && chars[i..].starts_with(&['c', 'r', 'a', 't', 'e', ':', ':']) {
            let line = chars[..i].iter().filter(|c| **c == '\n').count() + 1;
            i = use_tree(&chars, i + 7, String::new(), line, &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Reads a path (or `{…}` tree) at `i` below `prefix`; returns where it ends.
fn use_tree(
    chars: &[char],
    mut i: usize,
    prefix: String,
    line: usize,
    out: &mut Vec<(String, usize)>,
) -> usize {
    let skip_space = |mut i: usize| {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        i
    };
    let mut path = prefix;
    loop {
        i = skip_space(i);
        if chars.get(i) == Some(&'{') {
            i += 1;
            loop {
                i = skip_space(i);
                match chars.get(i) {
                    Some('}') => return i + 1,
                    Some(',') => i += 1,
                    Some(_) => i = use_tree(chars, i, path.clone(), line, out),
                    None => return i,
                }
            }
        }
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        if !word.is_empty() && word != "self" {
            if !path.is_empty() {
                path.push_str("::");
            }
            path.push_str(&word);
        }
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
            continue;
        }
        if !path.is_empty() {
            out.push((path, line));
        }
        return i;
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `text` with comments and the contents of string and char literals blanked (newlines kept,
/// so line numbers stay right).
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, s: &[char]| {
        out.extend(s.iter().map(|&ch| if ch == '\n' { '\n' } else { ' ' }));
    };
    let mut i = 0;
    while i < c.len() {
        let rest = &c[i..];
        let end = if rest.starts_with(&['/', '/']) {
            rest.iter().position(|&ch| ch == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            let (mut depth, mut j) = (1, 2);
            while j < rest.len() && depth > 0 {
                if rest[j..].starts_with(&['/', '*']) {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(&['*', '/']) {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            j
        } else if rest[0] == 'r'
            && (i == 0 || !is_ident(c[i - 1]))
            && matches!(rest.get(1), Some('#') | Some('"'))
        {
            let hashes = rest[1..].iter().take_while(|&&ch| ch == '#').count();
            if rest.get(1 + hashes) != Some(&'"') {
                1
            } else {
                let close: Vec<char> = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let body = 2 + hashes;
                rest[body..]
                    .windows(close.len())
                    .position(|w| w == close.as_slice())
                    .map_or(rest.len(), |p| body + p + close.len())
            }
        } else if rest[0] == '"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != '"' {
                j += if rest[j] == '\\' { 2 } else { 1 };
            }
            (j + 1).min(rest.len())
        } else if rest[0] == '\'' {
            // A char literal ('x', '\n', '\u{..}'); otherwise a lifetime, left as code.
            if rest.get(1) == Some(&'\\') {
                rest.get(3..)
                    .and_then(|r| r.iter().position(|&ch| ch == '\''))
                    .map_or(1, |p| p + 4)
            } else if rest.get(2) == Some(&'\'') {
                3
            } else {
                1
            }
        } else {
            out.push(rest[0]);
            i += 1;
            continue;
        };
        if end == 1 && rest[0] != '"' {
            out.push(rest[0]);
        } else {
            blank(&mut out, &rest[..end]);
        }
        i += end;
    }
    out
}
