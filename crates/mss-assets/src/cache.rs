//! Where fetched and converted assets live: `MSS_CACHE_DIR` if set, else
//! `$XDG_CACHE_HOME/mss`, else `~/.cache/mss`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{AssetError, Result};

/// Environment variable that names the cache folder outright.
pub const CACHE_DIR_ENV: &str = "MSS_CACHE_DIR";

/// The cache folder and its fixed sub-folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// A cache rooted at `root` (created on first use, not here).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache chosen by the environment (see [`cache_root`]).
    pub fn from_env() -> Result<Self> {
        cache_root().map(Self::new)
    }

    /// The cache's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where pip downloads are kept, one finished folder per `name-version`.
    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// Where converted models (and the GGUF files they came from) are kept.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// Where unpacked text corpora are kept.
    pub fn corpora_dir(&self) -> PathBuf {
        self.root.join("corpora")
    }
}

/// The cache root chosen by the environment: `MSS_CACHE_DIR` if set and non-empty, else
/// `$XDG_CACHE_HOME/mss`, else `$HOME/.cache/mss`.
pub fn cache_root() -> Result<PathBuf> {
    resolve(
        std::env::var_os(CACHE_DIR_ENV),
        std::env::var_os("XDG_CACHE_HOME"),
        std::env::var_os("HOME"),
    )
}

/// The pure rule behind [`cache_root`], so that it can be tested without touching the
/// process environment.
fn resolve(
    mss: Option<OsString>,
    xdg: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf> {
    let nonempty = |v: Option<OsString>| v.filter(|s| !s.is_empty()).map(PathBuf::from);
    if let Some(dir) = nonempty(mss) {
        return Ok(dir);
    }
    if let Some(dir) = nonempty(xdg) {
        return Ok(dir.join("mss"));
    }
    nonempty(home)
        .map(|h| h.join(".cache").join("mss"))
        .ok_or(AssetError::NoCacheDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<OsString> {
        Some(OsString::from(s))
    }

    #[test]
    fn mss_cache_dir_wins() {
        let r = resolve(os("/a"), os("/x"), os("/h")).unwrap();
        assert_eq!(r, PathBuf::from("/a"));
    }

    #[test]
    fn xdg_then_home() {
        assert_eq!(
            resolve(None, os("/x"), os("/h")).unwrap(),
            PathBuf::from("/x/mss")
        );
        assert_eq!(
            resolve(os(""), os(""), os("/h")).unwrap(),
            PathBuf::from("/h/.cache/mss")
        );
    }

    #[test]
    fn nothing_set_is_an_error() {
        assert!(matches!(
            resolve(None, None, None),
            Err(AssetError::NoCacheDir)
        ));
    }

    #[test]
    fn sub_folders() {
        let c = Cache::new("/c");
        assert_eq!(c.root(), Path::new("/c"));
        assert_eq!(c.downloads_dir(), PathBuf::from("/c/downloads"));
        assert_eq!(c.models_dir(), PathBuf::from("/c/models"));
        assert_eq!(c.corpora_dir(), PathBuf::from("/c/corpora"));
    }
}
