//! One eval per run folder: an OS lock on `eval.lock`, which names its holder.
//!
//! Two evals appending to one `results.jsonl` would each run what the other is running and
//! interleave their lines. The lock is the operating system's (`flock` on Unix), so it goes with
//! the process however it ends, a `SIGKILL` or a preempted job included: no stale lock to clean.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};

/// The lock file's name in the run folder.
pub const LOCK_FILE: &str = "eval.lock";

/// Held while an eval writes to its run folder; released when dropped or when the process ends.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

impl FolderLock {
    /// Takes the lock of `dir`, writing this process's id, start time and command line into
    /// it; refuses, naming the holder, when another process holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                bail!(
                    "another eval is writing to {}: {} (it holds {}; wait for it, stop it, or \
                     choose another folder with --out)",
                    dir.display(),
                    holder.trim(),
                    path.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        file.set_len(0)?;
        let command: Vec<String> = std::env::args().collect();
        writeln!(
            file,
            "pid {}, started at {} (unix seconds): {}",
            std::process::id(),
            super::record::now(),
            command.join(" ")
        )?;
        file.sync_data()?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_eval_on_the_folder_is_refused_with_the_first_named() {
        let dir = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(dir.path()).unwrap();
        let err = FolderLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())) && err.contains("--out"),
            "{err}"
        );
        drop(first);
        // Released with its holder: the next eval takes it.
        let again = FolderLock::acquire(dir.path());
        assert!(again.is_ok(), "{again:?}");
        assert!(dir.path().join(LOCK_FILE).is_file());
    }
}
