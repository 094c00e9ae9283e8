//! Where CubeCL keeps compiled kernels and autotune results between processes.
//!
//! Left to itself, CubeCL compiles every kernel anew in each process (its compilation cache is
//! off) and keeps autotune results under the `target/` folder of the Cargo project around the
//! working directory, or nowhere useful outside one: a fresh process spent a minute or more
//! compiling before its first prefill (docs/results/gpu-prefill.md).
//!
//! CubeCL keys a cached kernel by its type's name, launch settings and compile-time arguments,
//! not by its source: a changed kernel of the same name would load the old one's PTX. Our
//! kernels therefore take their source's hash (`mss_core::source_hash`) as a compile-time
//! argument.

use std::path::{Path, PathBuf};

use cubecl::config::cache::CacheConfig;
use cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};

/// The environment variable that names the folder of the kernel caches.
pub const KERNEL_CACHE_ENV: &str = "MSS_KERNEL_CACHE";

/// The files through which a project configures CubeCL itself.
const CUBECL_CONFIG_FILES: [&str; 4] = ["cubecl.toml", "CubeCL.toml", "burn.toml", "Burn.toml"];

/// Keeps CubeCL's compiled kernels and autotune results, and cuDNN's attention plans, in one
/// folder that outlives the process: `$MSS_KERNEL_CACHE`, else the user's cache folder
/// (`~/.cache/mss/kernels` on Linux). Call it before the first use of the CUDA device; returns
/// the folder, or `None` where it changed nothing for CubeCL: CubeCL's configuration was
/// already read (the device is in use), or a `cubecl.toml` / `burn.toml` in the working
/// directory or above it configures CubeCL, which wins (cuDNN's plans are kept in the folder
/// either way). CubeCL's environment variables (`CUBECL_AUTOTUNE_LEVEL`, ...) still apply.
pub fn persist_kernel_caches() -> Option<PathBuf> {
    let folder = std::env::var_os(KERNEL_CACHE_ENV)
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|cache| cache.join("mss").join("kernels")))?;
    // cuDNN's attention plans are the crate's own: kept there whoever configures CubeCL.
    super::cudnn::keep_plans_in(&folder);
    let cwd = std::env::current_dir().ok()?;
    if configured_by_file(&cwd) {
        return None;
    }
    let mut storage = CubeClRuntimeConfig::storage().lock();
    if storage.is_some() {
        return None;
    }
    let mut config = CubeClRuntimeConfig::default().override_from_env();
    config.compilation.cache = Some(CacheConfig::File(folder.clone()));
    config.autotune.cache = CacheConfig::File(folder.clone());
    *storage = Some(std::sync::Arc::new(config));
    Some(folder)
}

/// Whether a CubeCL configuration file lies in `dir` or a folder above it (where CubeCL looks).
fn configured_by_file(dir: &Path) -> bool {
    dir.ancestors().any(|d| {
        CUBECL_CONFIG_FILES
            .iter()
            .any(|name| d.join(name).is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cubecl_file_in_a_parent_folder_counts_as_configuration() {
        let root = std::env::temp_dir().join(format!("mss-caches-{}", std::process::id()));
        let inner = root.join("a").join("b");
        std::fs::create_dir_all(&inner).unwrap();
        assert!(!configured_by_file(&inner) || configured_by_file(&std::env::temp_dir()));
        std::fs::write(root.join("burn.toml"), "").unwrap();
        assert!(configured_by_file(&inner));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
