//! Fetching one package file with `pip download --no-deps`, by name and exact version.
//!
//! The download goes into a staging folder beside its final folder and is renamed into place
//! only once pip has finished, so a finished folder always holds one complete file.

use std::ffi::{OsStr, OsString};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{AssetError, IoContext, Result};
use crate::fsutil::Staging;

/// How many trailing stderr lines a [`AssetError::PipFailed`] keeps.
const STDERR_TAIL_LINES: usize = 20;

/// A pip runner: the commands tried in order until one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pip {
    commands: Vec<Vec<OsString>>,
}

impl Default for Pip {
    /// Tries `python3 -m pip`, then `pip3`, then `pip`.
    fn default() -> Self {
        Self::with_commands([vec!["python3", "-m", "pip"], vec!["pip3"], vec!["pip"]])
    }
}

impl Pip {
    /// A runner that tries each command (program then leading arguments) in order; the first
    /// that starts is used. Empty commands are ignored.
    pub fn with_commands<C, S>(commands: impl IntoIterator<Item = C>) -> Self
    where
        C: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let commands = commands
            .into_iter()
            .map(|c| {
                c.into_iter()
                    .map(|s| s.as_ref().to_owned())
                    .collect::<Vec<_>>()
            })
            .filter(|c| !c.is_empty())
            .collect();
        Self { commands }
    }

    /// Downloads `name==version` (without dependencies) into the folder `dest` and returns
    /// the path of the one file it holds. If `dest` already exists (a finished earlier
    /// download), nothing is fetched.
    pub fn download(&self, name: &str, version: &str, dest: &Path) -> Result<PathBuf> {
        if dest.is_dir() {
            return single_file(dest);
        }
        let requirement = format!("{name}=={version}");
        let staging = Staging::new_dir(dest)?;
        self.run(&requirement, staging.path())?;
        single_file(staging.path())?;
        staging.commit()?;
        single_file(dest)
    }

    /// Runs `pip download` for `requirement` into `dir`.
    fn run(&self, requirement: &str, dir: &Path) -> Result<()> {
        let mut tried = Vec::new();
        for command in &self.commands {
            let Some((program, lead)) = command.split_first() else {
                continue;
            };
            let shown = command
                .iter()
                .map(|s| s.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ");
            let output = Command::new(program)
                .args(lead)
                .args(["download", "--no-deps", "--disable-pip-version-check"])
                .args(["--progress-bar", "off", "-d"])
                .arg(dir)
                .arg(requirement)
                .stdin(Stdio::null())
                .output();
            let output = match output {
                Ok(o) => o,
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => {
                    tried.push(shown);
                    continue;
                }
                Err(e) => return Err(AssetError::io("running", PathBuf::from(shown), e)),
            };
            let stderr = String::from_utf8_lossy(&output.stderr);
            if output.status.success() {
                return Ok(());
            }
            if stderr.contains("No module named pip") {
                tried.push(shown);
                continue;
            }
            return Err(AssetError::PipFailed {
                package: requirement.to_owned(),
                status: output.status.to_string(),
                stderr: tail(&stderr, STDERR_TAIL_LINES),
            });
        }
        Err(AssetError::PipMissing {
            tried: tried.join(", "),
        })
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The one regular file in `dir`, or an error saying what was found instead.
fn single_file(dir: &Path) -> Result<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).at("listing", dir)? {
        let entry = entry.at("listing", dir)?;
        if entry.file_type().at("inspecting", &entry.path())?.is_file() {
            files.push(entry.path());
        }
    }
    match files.len() {
        1 => Ok(files.remove(0)),
        n => Err(AssetError::UnexpectedContent {
            path: dir.to_path_buf(),
            reason: format!("expected exactly one downloaded file, found {n}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::tests::TestDir;

    #[test]
    fn missing_program_is_pip_missing() {
        let t = TestDir::new("pip-missing");
        let pip = Pip::with_commands([["/nonexistent/mss-no-such-pip"], ["mss-no-such-pip3"]]);
        let err = pip.download("anything", "1.0", &t.0.join("d")).unwrap_err();
        match &err {
            AssetError::PipMissing { tried } => {
                assert!(tried.contains("mss-no-such-pip3"), "{tried}");
            }
            other => panic!("expected PipMissing, got {other:?}"),
        }
        assert!(err.to_string().contains("apt-get install python3-pip"));
        // Nothing half-made is left behind.
        assert_eq!(std::fs::read_dir(&t.0).unwrap().count(), 0);
    }

    #[test]
    fn failing_command_is_pip_failed() {
        let t = TestDir::new("pip-failed");
        let pip = Pip::with_commands([["false"]]);
        let err = pip.download("somepkg", "0.1", &t.0.join("d")).unwrap_err();
        match err {
            AssetError::PipFailed {
                package, status, ..
            } => {
                assert_eq!(package, "somepkg==0.1");
                assert!(status.contains('1'), "{status}");
            }
            other => panic!("expected PipFailed, got {other:?}"),
        }
        assert_eq!(std::fs::read_dir(&t.0).unwrap().count(), 0);
    }

    #[test]
    fn stderr_tail_is_kept() {
        let t = TestDir::new("pip-stderr");
        let pip =
            Pip::with_commands([["sh", "-c", "echo first >&2; echo 'ERROR: no' >&2; exit 3"]]);
        match pip.download("p", "1", &t.0.join("d")).unwrap_err() {
            AssetError::PipFailed { stderr, status, .. } => {
                assert!(stderr.ends_with("ERROR: no"), "{stderr}");
                assert!(status.contains('3'), "{status}");
            }
            other => panic!("expected PipFailed, got {other:?}"),
        }
    }

    #[test]
    fn finished_download_is_reused_and_staged_one_is_placed() {
        let t = TestDir::new("pip-fake");
        // A fake pip that writes one file into the folder after `-d`.
        let script = r#"while [ "$1" != "-d" ]; do shift; done; echo data > "$2/pkg-1.0.whl""#;
        let pip = Pip::with_commands([["sh", "-c", script, "fake-pip"]]);
        let dest = t.0.join("pkg-1.0");
        let file = pip.download("pkg", "1.0", &dest).unwrap();
        assert_eq!(file, dest.join("pkg-1.0.whl"));
        // A second call does not run pip at all.
        let never = Pip::with_commands([["false"]]);
        assert_eq!(never.download("pkg", "1.0", &dest).unwrap(), file);
        // Only the finished folder is there.
        assert_eq!(std::fs::read_dir(&t.0).unwrap().count(), 1);
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }
}
