//! The documentation's links: in `README.md`, every `docs/*.md`, `BENCHMARKS.md` and
//! `events/README.md`, each relative markdown link `[x](path)`, `[x](path#anchor)` or
//! `[x](#anchor)` names a file that exists, and each anchor into a markdown file is the slug of
//! one of its headings, by GitHub's rule (lowercase; punctuation but `-` and `_` dropped; spaces
//! to `-`; a repeated heading gets `-1`, `-2`, ...). External links are not followed. No server.
//!
//! Also, ignored: the README's picture (`docs/timeline.png`) made again from
//! `tests/fixtures/timeline-story.json` (see `docs/developing.md`).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files whose links are checked, relative to the root.
fn checked_files() -> Vec<PathBuf> {
    let mut files = vec![
        PathBuf::from("README.md"),
        PathBuf::from("BENCHMARKS.md"),
        PathBuf::from("events/README.md"),
    ];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("the docs folder")
        .map(|e| e.expect("a docs entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| PathBuf::from("docs").join(p.file_name().expect("a name")))
        .collect();
    docs.sort();
    assert!(!docs.is_empty(), "docs/ holds no markdown file");
    files.extend(docs);
    files
}

/// GitHub's anchor for a heading's text.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The lines of a markdown text outside fenced code blocks, with their line numbers, and the
/// line of a fence left open at the end (the rest of the file would then read as code).
fn prose_and_open_fence(text: &str) -> (Vec<(usize, &str)>, Option<usize>) {
    let mut fence: Option<(&str, usize)> = None;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some((m, n + 1)),
            (Some((open, _)), Some(m)) if open == m => fence = None,
            (None, None) => out.push((n + 1, line)),
            _ => {}
        }
    }
    (out, fence.map(|(_, at)| at))
}

/// The lines of a markdown text outside fenced code blocks, with their line numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    prose_and_open_fence(text).0
}

/// The anchors of a markdown text's headings, duplicates numbered as GitHub numbers them.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        // Link syntax in a heading keeps only its text.
        let heading = link_texts(line[hashes..].trim().trim_end_matches('#'));
        let base = slug(&heading);
        let count = seen.entry(base.clone()).or_insert(0);
        out.push(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    out
}

/// `[text](target)` → `text`.
fn link_texts(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find("](").and_then(|close| {
            after[close + 2..]
                .find(')')
                .map(|end| (close, close + 2 + end))
        }) {
            Some((close, end)) => {
                out.push_str(&after[..close]);
                rest = &after[end + 1..];
            }
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A line with its inline code spans blanked (a link inside backticks is no link).
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(' ');
        } else if in_code {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// The targets of the inline links `[x](target)` and images `![x](target)` of a line.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut out = Vec::new();
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        // `(path "title")`: the path alone.
        let target = after[..end].split_whitespace().next().unwrap_or("");
        out.push(target.trim_matches(|c| c == '<' || c == '>').to_owned());
        rest = &after[end..];
    }
    out
}

/// `a/b/../c` → `a/c` (the path stays relative to the root).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every broken link of `files` (paths relative to the root), read through `read`; `exists`
/// says whether a path names a file or folder.
fn broken_links(
    files: &[PathBuf],
    read: &dyn Fn(&Path) -> Option<String>,
    exists: &dyn Fn(&Path) -> bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    for file in files {
        let Some(text) = read(file) else {
            problems.push(format!("{}: cannot be read", file.display()));
            continue;
        };
        let dir = file.parent().unwrap_or(Path::new(""));
        let (prose, open_fence) = prose_and_open_fence(&text);
        if let Some(at) = open_fence {
            problems.push(format!(
                "{}:{at}: a code fence opened here is never closed",
                file.display()
            ));
        }
        for (n, line) in prose {
            for target in link_targets(line) {
                if target.is_empty()
                    || target.starts_with("http://")
                    || target.starts_with("https://")
                    || target.starts_with("mailto:")
                {
                    continue;
                }
                let (path, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target.as_str(), None),
                };
                let linked = if path.is_empty() {
                    file.clone()
                } else {
                    normalize(&dir.join(path))
                };
                let at = format!("{}:{n}: ({target})", file.display());
                if !path.is_empty() && !exists(&linked) {
                    problems.push(format!("{at}: {} does not exist", linked.display()));
                    continue;
                }
                let Some(anchor) = anchor else { continue };
                if linked.extension().is_none_or(|x| x != "md") {
                    continue;
                }
                let Some(target_text) = read(&linked) else {
                    problems.push(format!("{at}: {} cannot be read", linked.display()));
                    continue;
                };
                if !anchors(&target_text).iter().any(|a| a == anchor) {
                    problems.push(format!(
                        "{at}: no heading of {} has the anchor #{anchor}",
                        linked.display()
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn every_link_and_anchor_of_the_docs_resolves() {
    let files = checked_files();
    let read = |p: &Path| std::fs::read_to_string(root().join(p)).ok();
    let exists = |p: &Path| root().join(p).exists();
    let problems = broken_links(&files, &read, &exists);
    assert!(
        problems.is_empty(),
        "{} broken link(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_slugs_follow_github() {
    assert_eq!(slug("The table"), "the-table");
    assert_eq!(
        slug("Checking a deployed stack: asg-trail doctor"),
        "checking-a-deployed-stack-asg-trail-doctor"
    );
    assert_eq!(
        slug("EC2 Auto Scaling events (`autoscaling-*.json`)"),
        "ec2-auto-scaling-events-autoscaling-json"
    );
    assert_eq!(
        slug("Backfill or S3 Batch Operations?"),
        "backfill-or-s3-batch-operations"
    );
    assert_eq!(
        slug("How the template is checked (offline, in `./infra/test.sh`)"),
        "how-the-template-is-checked-offline-in-infratestsh"
    );
    assert_eq!(slug("snake_case and — dash"), "snake_case-and--dash");
    let text = "# A\n## Usage\n```sh\n# Usage (a comment, no heading)\n```\n### Usage\n#### Usage\n#nope\n";
    assert_eq!(anchors(text), ["a", "usage", "usage-1", "usage-2"]);
}

#[test]
fn a_broken_link_or_anchor_is_reported() {
    let docs: HashMap<PathBuf, &str> = [
        (
            "README.md",
            "# Top\n## Cost\n[ok](docs/a.md#deploy) [ok](#cost) [ok](docs/a.md) [web](https://x.test/#no)\n\
             `[code](nowhere.md)` [gone](docs/gone.md) [bad](#costs) [bad](docs/a.md#deploy-1)\n\
             ```\n[fenced](nowhere.md)\n```\n![pic](docs/pic.png)\n",
        ),
        (
            "docs/a.md",
            "# Deploy\n[up](../README.md#cost) [up](../README.md#top) [bad](../README.md#usage)\n",
        ),
        ("docs/pic.png", ""),
        ("docs/open.md", "# Open\n```sh\nls\n```\n```\n[hidden](nowhere.md)\n"),
    ]
    .into_iter()
    .map(|(p, t)| (PathBuf::from(p), t))
    .collect();
    let read = |p: &Path| docs.get(p).map(|t| (*t).to_owned());
    let exists = |p: &Path| docs.contains_key(p);
    let files = [
        PathBuf::from("README.md"),
        PathBuf::from("docs/a.md"),
        PathBuf::from("docs/open.md"),
    ];
    let problems = broken_links(&files, &read, &exists);
    assert_eq!(problems.len(), 5, "{problems:#?}");
    for want in [
        "README.md:4: (docs/gone.md)",
        "README.md:4: (#costs)",
        "README.md:4: (docs/a.md#deploy-1)",
        "docs/a.md:2: (../README.md#usage)",
        "docs/open.md:5: a code fence opened here is never closed",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "{want} missing from {problems:#?}"
        );
    }
}

/// Makes the README's picture again: the story of `tests/fixtures/timeline-story.json` rendered
/// as `asg-trail timeline --group web-asg --since 2024-05-01 --output html` renders it (the same
/// `timeline::by_group` and `html::page`; the rows are the items the table holds), written to
/// `$CARGO_TARGET_TMPDIR/docs/timeline.html`, then screenshot by headless Chromium into
/// `docs/timeline.png`. Run it with `cargo test --test it docs::the_timeline_picture --
/// --ignored`.
#[test]
#[ignore = "rewrites docs/timeline.png; run by hand (needs chromium)"]
fn the_timeline_picture() {
    use asg_trail::timeline::{self, html};
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../fixtures/timeline-story.json")).expect("the story");
    let page = html::page(
        html::Scope {
            group: "web-asg",
            since: Some("2024-05-01"),
            until: None,
        },
        &timeline::by_group(&rows),
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("docs");
    std::fs::create_dir_all(&dir).expect("create the output folder");
    let html_path = dir.join("timeline.html");
    std::fs::write(&html_path, page).expect("write the page");
    let profile = dir.join(format!("profile-{}", std::process::id()));
    let png = root().join("docs/timeline.png");
    crate::timeline::run_chromium(
        &html_path,
        &profile,
        "1400,900",
        &[&format!("--screenshot={}", png.display())],
    );
    assert!(png.is_file(), "no picture at {}", png.display());
    eprintln!(
        "[docs] page {} picture {}",
        html_path.display(),
        png.display()
    );
}
