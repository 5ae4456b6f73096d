//! The library's modules form a one-way stack (docs/developing.md, "The stack of modules"):
//! each top-level module of `src/` imports only modules below it, so there is no cycle; the pure
//! core imports neither tokio nor the AWS SDK nor the Lambda runtime; and EventBridge's
//! vocabulary is spelled in one place. Read from the source text (`crate::` paths of production
//! code, before a file's first `#[cfg(test)]`, comments left out), so a new import that points
//! up fails here, naming the file. No server needed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The top-level modules of `src/`, from the ground up: a module may import only those before
/// it. Leaves, then the readers of formats, extraction, the pipeline and its settings, the
/// adapters, the handler, and what only the CLI runs.
const STACK: &[&str] = &[
    // Leaves: the item contract, DynamoDB's size rules, the scanner, EventBridge's vocabulary,
    // the metrics' format.
    "item",
    "size",
    "scan",
    "eventbridge",
    "metrics",
    // Readers of formats.
    "cloudtrail",
    "notification",
    // Extraction: a record, an event.
    "extract",
    "events",
    // Which stored changes alert, and what an alert says.
    "alert",
    // The settings, and the pipeline that applies them.
    "config",
    "pipeline",
    // Adapters (feature `lambda`).
    "aws",
    "error",
    "s3",
    "dynamodb",
    "sns",
    // The handler.
    "handler",
    // The story and its renderings (feature `timeline`).
    "render",
    "timeline",
    // What only the CLI runs (feature `cli`).
    "backfill",
    "doctor",
];

/// The pure core: the stack up to the pipeline (layers 1 to 4), and the story's renderings.
fn is_pure(module: &str) -> bool {
    let rank = |m: &str| STACK.iter().position(|s| *s == m);
    let pipeline = rank("pipeline").expect("the pipeline is in the stack");
    rank(module).is_some_and(|r| r <= pipeline) || ["render", "timeline"].contains(&module)
}

/// What a pure module never names.
const IMPURE: &[&str] = &[
    "tokio",
    "aws_sdk_",
    "aws_config",
    "aws_smithy",
    "aws_lambda_events",
    "lambda_runtime",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's production code: its text before the first `#[cfg(test)]`, without `//` comments
/// (doc links name modules without importing them).
fn production(text: &str) -> String {
    let text = text.find("#[cfg(test)]").map_or(text, |at| &text[..at]);
    text.lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names that follow `crate::` in `text`.
fn crate_paths(text: &str) -> Vec<&str> {
    text.match_indices("crate::")
        .filter(|(at, _)| {
            // `crate::`, not `some_crate::`.
            text[..*at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        })
        .map(|(at, m)| {
            let rest = &text[at + m.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// Each library module's production files: (top-level module, file, production text).
fn modules() -> Vec<(String, PathBuf, String)> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(&root).expect("under src");
            let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
            let module = first.trim_end_matches(".rs").to_owned();
            let is_test = path.file_stem().is_some_and(|s| s == "tests");
            if module == "lib" || module == "bin" || is_test {
                return None;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            Some((module, Path::new("src").join(rel), production(&text)))
        })
        .collect()
}

#[test]
fn every_module_is_placed_in_the_stack() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("src/lib.rs");
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert!(declared.len() > 10, "{declared:?}");
    let mut unplaced: Vec<&str> = declared
        .iter()
        .copied()
        .filter(|m| !STACK.contains(m))
        .collect();
    unplaced.sort_unstable();
    assert!(
        unplaced.is_empty(),
        "modules of src/lib.rs missing from the STACK of tests/it/layers.rs (place each where it \
         belongs, leaves first): {unplaced:?}"
    );
    let mut stale: Vec<&str> = STACK
        .iter()
        .copied()
        .filter(|m| !declared.contains(m))
        .collect();
    stale.sort_unstable();
    assert!(
        stale.is_empty(),
        "STACK names modules src/lib.rs no longer has: {stale:?}"
    );
}

#[test]
fn no_module_imports_one_above_it() {
    let rank = |m: &str| STACK.iter().position(|s| *s == m);
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (module, path, text) in modules() {
        let Some(from) = rank(&module) else {
            panic!("{}: module {module} is not in the STACK", path.display());
        };
        for to in crate_paths(&text) {
            if to == module {
                continue;
            }
            match rank(to) {
                Some(r) if r < from => {}
                _ => upward
                    .entry(format!("{} ({module})", path.display()))
                    .or_default()
                    .push(to.to_owned()),
            }
        }
    }
    for imports in upward.values_mut() {
        imports.sort();
        imports.dedup();
    }
    assert!(
        upward.is_empty(),
        "imports that point up the stack, or at a module not in it (move the name down, to the \
         module that needs it, or to a leaf): {upward:#?}"
    );
}

#[test]
fn the_pure_core_imports_no_runtime_no_sdk() {
    let mut found = Vec::new();
    for (module, path, text) in modules() {
        if !is_pure(&module) {
            continue;
        }
        for name in IMPURE {
            if text.contains(name) {
                found.push(format!("{}: {name}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "the pure core names {found:#?}");
}

#[test]
fn eventbridge_vocabulary_is_spelled_once() {
    let mut found = Vec::new();
    for (module, path, text) in modules() {
        if module == "eventbridge" {
            continue;
        }
        for word in ["\"aws.autoscaling\"", "\"AWS API Call via CloudTrail\""] {
            if text.contains(word) {
                found.push(format!("{}: {word}", path.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "EventBridge's sources and detail-types belong to src/eventbridge.rs: {found:#?}"
    );
}

#[test]
fn the_checks_see_an_upward_import() {
    // The reader that the tests above rely on: a comment is no import, `some_crate::` is not
    // `crate::`, and test code is left out.
    let text = production(
        "use crate::item::Item; // crate::handler\nlet x = some_crate::y;\nfn f() { crate::pipeline::finish(); }\n#[cfg(test)]\nuse crate::doctor;",
    );
    assert_eq!(crate_paths(&text), ["item", "pipeline"]);
}
