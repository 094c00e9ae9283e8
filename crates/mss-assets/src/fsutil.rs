//! Staging paths: work is written beside its final place under a `.partial` name and renamed
//! into place only when complete, so an interrupted run never leaves something that looks done.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoContext, Result};

/// A staging file or folder beside `target`, removed on drop unless committed.
#[derive(Debug)]
pub(crate) struct Staging {
    path: PathBuf,
    target: PathBuf,
    committed: bool,
}

/// What [`Staging::commit`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    /// The staged path now sits at the target.
    Placed,
    /// A folder was already at the target (another process finished first); the staged copy
    /// was discarded.
    TargetExisted,
}

impl Staging {
    /// Reserves a fresh staging path beside `target` (creating `target`'s parent); nothing
    /// is created at the staging path itself.
    pub(crate) fn reserve(target: &Path) -> Result<Self> {
        let parent = parent_of(target);
        std::fs::create_dir_all(&parent).at("creating", &parent)?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".to_owned());
        let path = parent.join(format!(".{name}.partial-{}", unique_suffix()));
        Ok(Self {
            path,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// Reserves a staging folder beside `target` and creates it.
    pub(crate) fn new_dir(target: &Path) -> Result<Self> {
        let s = Self::reserve(target)?;
        std::fs::create_dir(&s.path).at("creating", &s.path)?;
        Ok(s)
    }

    /// The staging path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the staged path onto the target. A file replaces an existing file; a folder
    /// never replaces a non-empty folder (then [`Commit::TargetExisted`]).
    pub(crate) fn commit(self) -> Result<Commit> {
        let from = self.path.clone();
        self.commit_from(&from)
    }

    /// Renames `from` (the staged path or a path inside the staged folder) onto the target,
    /// as [`Staging::commit`] does, then removes whatever else was staged.
    pub(crate) fn commit_from(mut self, from: &Path) -> Result<Commit> {
        match std::fs::rename(from, &self.target) {
            Ok(()) => {
                self.committed = from == self.path;
                Ok(Commit::Placed)
            }
            // Linux says ENOTEMPTY or EEXIST here; either way the target is someone else's
            // finished work. Drop removes ours.
            Err(_) if from.is_dir() && self.target.is_dir() => Ok(Commit::TargetExisted),
            Err(e) => Err(e).at("renaming into place", &self.target),
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        if self.path.is_dir() {
            let _ = std::fs::remove_dir_all(&self.path);
        } else {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `pid-counter-nanos`: unique within this machine for the life of the process.
pub(crate) fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}-{nanos}", std::process::id())
}

/// `path`'s parent, or `.` for a bare name.
pub(crate) fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh empty folder under the system temp folder, removed on drop.
    pub(crate) struct TestDir(pub(crate) PathBuf);

    impl TestDir {
        pub(crate) fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(format!("mss-assets-{tag}-{}", unique_suffix()));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn dropped_staging_leaves_nothing() {
        let t = TestDir::new("staging-drop");
        let target = t.0.join("out");
        let s = Staging::new_dir(&target).unwrap();
        std::fs::write(s.path().join("f"), b"x").unwrap();
        let p = s.path().to_path_buf();
        drop(s);
        assert!(!p.exists());
        assert!(!target.exists());
    }

    #[test]
    fn commit_places_then_defers_to_existing() {
        let t = TestDir::new("staging-commit");
        let target = t.0.join("out");
        let s = Staging::new_dir(&target).unwrap();
        std::fs::write(s.path().join("f"), b"one").unwrap();
        assert_eq!(s.commit().unwrap(), Commit::Placed);
        assert_eq!(std::fs::read(target.join("f")).unwrap(), b"one");

        let s = Staging::new_dir(&target).unwrap();
        std::fs::write(s.path().join("f"), b"two").unwrap();
        let p = s.path().to_path_buf();
        assert_eq!(s.commit().unwrap(), Commit::TargetExisted);
        assert!(!p.exists());
        assert_eq!(std::fs::read(target.join("f")).unwrap(), b"one");
    }

    #[test]
    fn commit_from_inside_the_staging_folder() {
        let t = TestDir::new("staging-inner");
        let target = t.0.join("root");
        let s = Staging::new_dir(&target).unwrap();
        let inner = s.path().join("pkg-1.0");
        std::fs::create_dir_all(inner.join("data")).unwrap();
        std::fs::write(s.path().join("PKG-INFO"), b"x").unwrap();
        let staged = s.path().to_path_buf();
        assert_eq!(s.commit_from(&inner).unwrap(), Commit::Placed);
        assert!(target.join("data").is_dir());
        assert!(!staged.exists());
    }

    #[test]
    fn staged_file_replaces_file() {
        let t = TestDir::new("staging-file");
        let target = t.0.join("f.bin");
        std::fs::write(&target, b"old").unwrap();
        let s = Staging::reserve(&target).unwrap();
        std::fs::write(s.path(), b"new").unwrap();
        assert_eq!(s.commit().unwrap(), Commit::Placed);
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }
}
