//! `cargo xtask tidy`: the house rules that can check themselves.
//!
//! - **Layering**: each workspace crate depends only on the workspace crates its row of
//!   [`LAYERS`] allows (normal and build dependencies), `mss-models` never on `mss-pruners` (not
//!   even for tests), and `mss-schedule` and `mss-assets` never on Burn or CubeCL.
//! - **Self-contained docs**: no Markdown link or path in the docs and sources leaves the
//!   repository, and every relative Markdown link points at a file that exists.
//! - **File size**: Rust files over [`LONG_FILE_LINES`] lines outside tests are listed as
//!   candidates to split (a note, not a failure).
//!
//! CI runs it after the tests; a unit test runs the same checks on the checkout.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;

/// Which workspace crates each workspace crate may depend on (normal and build dependencies).
/// A crate missing from this table is itself a failure: a new crate takes a row.
pub const LAYERS: &[(&str, &[&str])] = &[
    ("mss-core", &[]),
    ("mss-schedule", &[]),
    ("mss-assets", &[]),
    ("mss-pruners", &["mss-core", "mss-schedule"]),
    ("mss-models", &["mss-core"]),
    ("mss-probe", &["mss-core", "mss-schedule", "mss-pruners"]),
    (
        "mss",
        &[
            "mss-core",
            "mss-schedule",
            "mss-assets",
            "mss-pruners",
            "mss-models",
            "mss-probe",
        ],
    ),
    ("mss-testkit", &["mss-core", "mss-models", "mss-assets"]),
    ("mss-examples", &["mss"]),
    ("xtask", &["mss", "mss-assets", "mss-examples"]),
];

/// Crates that must build without Burn or CubeCL, for any kind of dependency.
const WITHOUT_BURN: &[&str] = &["mss-schedule", "mss-assets"];

/// Dependencies forbidden for every kind, dev-dependencies included.
const NEVER: &[(&str, &str)] = &[("mss-models", "mss-pruners")];

/// The folder beside the repository that the team's specs and yardstick live in.
const SHARED: &str = concat!("../", "shared/");

/// Rust files longer than this (outside tests) are listed as candidates to split.
pub const LONG_FILE_LINES: usize = 400;

/// Runs every check on the workspace at `root`; prints the notes and fails with the list of
/// violations, if any.
pub fn run(root: &Path) -> anyhow::Result<()> {
    let metadata = Metadata::read(root)?;
    let files = tracked_files(root)?;
    let mut problems = layering(&metadata);
    problems.extend(doc_links(root, &files)?);
    for (file, lines) in long_files(root, &files)? {
        println!("note: {file} has {lines} lines (over {LONG_FILE_LINES}): a candidate to split");
    }
    if problems.is_empty() {
        println!("tidy: layering and doc links are in order");
        return Ok(());
    }
    for problem in &problems {
        eprintln!("tidy: {problem}");
    }
    bail!("tidy found {} problem(s)", problems.len())
}

/// The part of `cargo metadata` that tidy reads.
#[derive(Debug, Deserialize)]
pub struct Metadata {
    packages: Vec<Package>,
}

#[derive(Debug, Deserialize)]
struct Package {
    name: String,
    dependencies: Vec<Dependency>,
}

#[derive(Debug, Deserialize)]
struct Dependency {
    name: String,
    /// `None` for a normal dependency, else `"dev"` or `"build"`.
    kind: Option<String>,
}

impl Metadata {
    /// The workspace's own packages and their declared dependencies (no network, no lock
    /// resolution).
    fn read(root: &Path) -> anyhow::Result<Self> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ]);
        let stdout = stdout_of(command, root, "cargo metadata")?;
        serde_json::from_slice(&stdout).context("reading cargo metadata's JSON")
    }
}

/// Every dependency that breaks the layering rules, as a sentence.
pub fn layering(metadata: &Metadata) -> Vec<String> {
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let workspace: Vec<&str> = metadata.packages.iter().map(|p| p.name.as_str()).collect();
    let mut problems = Vec::new();
    for package in &metadata.packages {
        let name = package.name.as_str();
        let Some(allowed) = layers.get(name) else {
            problems.push(format!(
                "crate {name} has no row in tidy's LAYERS: say which crates it may depend on"
            ));
            continue;
        };
        for dependency in &package.dependencies {
            let on = dependency.name.as_str();
            let is_dev = dependency.kind.as_deref() == Some("dev");
            if NEVER.contains(&(name, on)) {
                problems.push(format!("{name} depends on {on}, which it never may"));
            } else if (workspace.contains(&on) || layers.contains_key(on))
                && !is_dev
                && !allowed.contains(&on)
            {
                problems.push(format!(
                    "{name} depends on {on}; its layer allows only {allowed:?}"
                ));
            }
            if WITHOUT_BURN.contains(&name) && (on.starts_with("burn") || on.starts_with("cubecl"))
            {
                problems.push(format!(
                    "{name} depends on {on}: it must build without Burn"
                ));
            }
        }
    }
    problems
}

/// What `command` (called `what` in errors) prints, run in `root`; its error output if it fails.
fn stdout_of(mut command: Command, root: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let output = command
        .current_dir(root)
        .output()
        .with_context(|| format!("running {what}"))?;
    if !output.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(output.stdout)
}

/// The files git tracks under `root`, relative to it.
fn tracked_files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut command = Command::new("git");
    command.args(["ls-files", "-z"]);
    let stdout = stdout_of(command, root, "git ls-files")?;
    Ok(stdout
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| PathBuf::from(String::from_utf8_lossy(name).into_owned()))
        .collect())
}

/// Markdown links and paths in docs and sources that leave the repository or point nowhere.
fn doc_links(root: &Path, files: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    for file in files {
        let checked = matches!(
            file.extension().and_then(|e| e.to_str()),
            Some("md" | "rs" | "toml" | "py" | "sh")
        );
        if !checked || !root.join(file).is_file() {
            continue;
        }
        let text = std::fs::read_to_string(root.join(file))
            .with_context(|| format!("reading {}", file.display()))?;
        let is_markdown = file.extension().is_some_and(|e| e == "md");
        for (number, line) in text.lines().enumerate() {
            let at = format!("{}:{}", file.display(), number + 1);
            if let Some(outside) = outside_reference(line) {
                problems.push(format!("{at}: `{outside}` leaves the repository"));
            }
            if !is_markdown {
                continue;
            }
            for target in markdown_links(line) {
                match resolve(file, target) {
                    Resolved::External => {}
                    Resolved::Outside => {
                        problems.push(format!("{at}: link `{target}` leaves the repository"));
                    }
                    Resolved::Inside(path) if !root.join(&path).exists() => {
                        problems.push(format!("{at}: link `{target}` points at nothing"));
                    }
                    Resolved::Inside(_) => {}
                }
            }
        }
    }
    Ok(problems)
}

/// A path in a line that names something beside the repository (the team's folder of specs) or an
/// absolute path of the machine it was written on.
fn outside_reference(line: &str) -> Option<&str> {
    // Spelt in pieces so that this file does not match itself.
    const MARKERS: &[&str] = &[SHARED, concat!("/", "work/"), concat!("/tmp/", "bash_jobs")];
    MARKERS.iter().find_map(|marker| {
        let start = line.find(marker)?;
        let rest = &line[start..];
        let end = rest
            .find(|c: char| c.is_whitespace() || "`)\"',;".contains(c))
            .unwrap_or(rest.len());
        Some(&rest[..end])
    })
}

/// The targets of the inline Markdown links `[text](target)` and images in a line.
fn markdown_links(line: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].split_whitespace().next().unwrap_or("");
        if !target.is_empty() {
            targets.push(target);
        }
        rest = &after[end..];
    }
    targets
}

/// Where a link from `file` leads.
#[derive(Debug, PartialEq, Eq)]
enum Resolved {
    /// A URL or an anchor in the same page: not checked.
    External,
    /// A path that climbs out of the repository.
    Outside,
    /// A path inside the repository, relative to its root.
    Inside(PathBuf),
}

fn resolve(file: &Path, target: &str) -> Resolved {
    if target.starts_with('#') || target.contains("://") || target.starts_with("mailto:") {
        return Resolved::External;
    }
    let target = target.split('#').next().unwrap_or(target);
    if target.starts_with('/') {
        return Resolved::Outside;
    }
    let mut path = PathBuf::new();
    let joined = file.parent().unwrap_or(Path::new("")).join(target);
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                if !path.pop() {
                    return Resolved::Outside;
                }
            }
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Resolved::Outside,
        }
    }
    Resolved::Inside(path)
}

/// Rust files over [`LONG_FILE_LINES`] lines that are not tests, longest first.
fn long_files(root: &Path, files: &[PathBuf]) -> anyhow::Result<Vec<(String, usize)>> {
    let mut long = Vec::new();
    for file in files {
        let is_test = file
            .components()
            .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "benches")
            || file.file_name().is_some_and(|n| n == "tests.rs");
        if is_test || file.extension().is_none_or(|e| e != "rs") || !root.join(file).is_file() {
            continue;
        }
        let lines = std::fs::read_to_string(root.join(file))
            .with_context(|| format!("reading {}", file.display()))?
            .lines()
            .count();
        if lines > LONG_FILE_LINES {
            long.push((file.display().to_string(), lines));
        }
    }
    long.sort_by_key(|(_, lines)| std::cmp::Reverse(*lines));
    Ok(long)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crate's name and its dependencies: a name and a kind (`None` for normal).
    type Row<'a> = (&'a str, &'a [(&'a str, Option<&'a str>)]);

    fn metadata(packages: &[Row]) -> Metadata {
        Metadata {
            packages: packages
                .iter()
                .map(|(name, deps)| Package {
                    name: name.to_string(),
                    dependencies: deps
                        .iter()
                        .map(|(on, kind)| Dependency {
                            name: on.to_string(),
                            kind: kind.map(str::to_string),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_workspace_keeps_its_house_rules() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        run(root).unwrap();
    }

    #[test]
    fn a_dependency_against_the_layers_is_reported() {
        let problems = layering(&metadata(&[
            ("mss-core", &[]),
            ("mss-pruners", &[("mss-core", None)]),
            (
                "mss-models",
                &[("mss-core", None), ("mss-pruners", Some("dev"))],
            ),
            ("mss-schedule", &[("burn", Some("dev"))]),
            ("mss-probe", &[("mss", None), ("mss", Some("dev"))]),
            ("newcomer", &[]),
        ]));
        assert_eq!(
            problems,
            [
                "mss-models depends on mss-pruners, which it never may",
                "mss-schedule depends on burn: it must build without Burn",
                "mss-probe depends on mss; its layer allows only [\"mss-core\", \"mss-schedule\", \"mss-pruners\"]",
                "crate newcomer has no row in tidy's LAYERS: say which crates it may depend on",
            ]
        );
    }

    #[test]
    fn links_are_resolved_against_the_file_and_the_root() {
        let readme = Path::new("README.md");
        let doc = Path::new("docs/results/eval.md");
        assert_eq!(resolve(readme, "https://burn.dev"), Resolved::External);
        assert_eq!(resolve(doc, "#findings"), Resolved::External);
        assert_eq!(
            resolve(readme, "docs/results/eval.md#top"),
            Resolved::Inside("docs/results/eval.md".into())
        );
        assert_eq!(
            resolve(doc, "../decisions.md"),
            Resolved::Inside("docs/decisions.md".into())
        );
        assert_eq!(resolve(doc, "../../../outside/x.md"), Resolved::Outside);
        assert_eq!(resolve(readme, "/etc/passwd"), Resolved::Outside);
    }

    #[test]
    fn links_and_outside_paths_are_found_in_a_line() {
        assert_eq!(
            markdown_links("see [a](x.md) and ![b](img/c.svg \"title\") and (not a link)"),
            ["x.md", "img/c.svg"]
        );
        let line = format!("the yardstick (`{SHARED}bench/torch_baseline.py`) says");
        let path = format!("{SHARED}bench/torch_baseline.py");
        assert_eq!(outside_reference(&line), Some(path.as_str()));
        assert_eq!(outside_reference("cargo xtask eval --preset paper"), None);
    }
}
