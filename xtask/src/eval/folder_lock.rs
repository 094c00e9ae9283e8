//! One eval per run folder: an OS lock on `eval.lock`, which names its holder.
//!
//! Two evals appending to one `results.jsonl` would each run what the other is running and
//! interleave their lines. The lock is the operating system's (`flock` on Unix), so it goes with
//! the process however it ends, a `SIGKILL` or a preempted job included: no stale lock to clean.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};

use super::shard::Shard;

/// The lock file's name in the run folder.
pub const LOCK_FILE: &str = "eval.lock";

/// Held while an eval writes to its run folder; released when dropped or when the process ends.
#[derive(Debug)]
pub struct FolderLock {
    _files: Vec<File>,
}

impl FolderLock {
    /// Takes the lock of `dir`, writing this process's id, start time and command line into
    /// it; refuses, naming the holder, when another eval (whole or a shard) holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<Self> {
        let file = lock(dir, LOCK_FILE, Mode::Exclusive)?;
        Ok(Self { _files: vec![file] })
    }

    /// The lock of one shard: `eval.lock` shared with the folder's other shards (a whole eval
    /// waits for them all), and the shard's own file exclusively (the same shard twice is
    /// refused).
    pub fn acquire_shard(dir: &Path, shard: &Shard) -> anyhow::Result<Self> {
        let folder = lock(dir, LOCK_FILE, Mode::Shared)?;
        let own = lock(dir, &shard.lock_file(), Mode::Exclusive)?;
        Ok(Self {
            _files: vec![folder, own],
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Exclusive,
    Shared,
}

/// Locks `dir/name`; an exclusive holder writes its name into the file.
fn lock(dir: &Path, name: &str, mode: Mode) -> anyhow::Result<File> {
    let path = dir.join(name);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let taken = match mode {
        Mode::Exclusive => file.try_lock(),
        Mode::Shared => file.try_lock_shared(),
    };
    match taken {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = match holder.trim() {
                "" => "the shards of a sharded eval".to_string(),
                named => named.to_string(),
            };
            bail!(
                "another eval is writing to {}: {holder} (it holds {}; wait for it, stop it, or \
                 choose another folder with --out)",
                dir.display(),
                path.display()
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    if mode == Mode::Exclusive {
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
    }
    Ok(file)
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

    #[test]
    fn shards_share_a_folder_but_not_a_shard_or_a_whole_eval() {
        let dir = tempfile::tempdir().unwrap();
        let [a, b] = [0, 1].map(|index| Shard { index, count: 2 });
        let first = FolderLock::acquire_shard(dir.path(), &a).unwrap();
        let second = FolderLock::acquire_shard(dir.path(), &b).unwrap();
        let again = FolderLock::acquire_shard(dir.path(), &a)
            .unwrap_err()
            .to_string();
        assert!(
            again.contains(&format!("pid {}", std::process::id())),
            "{again}"
        );
        let whole = FolderLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(whole.contains("another eval is writing"), "{whole}");
        drop((first, second));
        let whole = FolderLock::acquire(dir.path()).unwrap();
        assert!(FolderLock::acquire_shard(dir.path(), &a).is_err());
        drop(whole);
    }
}
