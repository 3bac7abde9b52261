//! The layer check both crates run (`tests/layers.rs` here and in `crates/mmtree-server`):
//! every module of a crate's `src` may import only the modules below it in the order `layers`
//! gives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a Rust file without comments, string and char literals (good enough for `use`
/// and path scanning: no raw strings in this crate).
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') || bytes.get(i + 1) == Some(&b'\\') => {
                // a char literal such as 'a' or '\n' (lifetimes have no closing quote)
                i += 1;
                while i < bytes.len() && bytes[i] != b'\'' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            byte => {
                out.push(byte as char);
                i += 1;
            }
        }
    }
    out
}

/// `crate::NAME` paths in `code`, and `use crate::{A, B}` groups.
fn imports(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
        rest = after;
    }
    found
}

/// Checks the crate whose sources are in `src` against `layers` (lowest first); panics with
/// every import that reaches up or names no layer.
pub fn check_layers(src: &Path, layers: &[&str]) {
    let rank: BTreeMap<&str, usize> = layers.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut files = Vec::new();
    sources(src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = Path::new(first)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let Some(&own) = rank.get(module.as_str()) else {
            problems.push(format!(
                "{}: module {module} has no place in the layers",
                relative.display()
            ));
            continue;
        };
        // Unit tests (a `#[cfg(test)]` module, last in its file, or such a module in a file
        // of its own, `tests.rs`) may use the whole crate.
        if relative.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        let code = code_only(text);
        for name in imports(&code) {
            if name == module {
                continue;
            }
            // Exported items of the crate root (`crate::Error` and the like) are re-exports of
            // lower layers; name the defining module instead.
            match rank.get(name.as_str()) {
                Some(&theirs) if theirs < own => {}
                Some(_) => problems.push(format!(
                    "{}: {module} imports {name}, which is not below it",
                    relative.display()
                )),
                None => problems.push(format!(
                    "{}: {module} imports crate::{name}, not a module of the layers (use the \
                     defining module's path)",
                    relative.display()
                )),
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    println!(
        "{} files, {} layers, no import reaches up",
        files.len(),
        layers.len()
    );
}
