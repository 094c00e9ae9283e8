//! The device workspace cuBLAS's products run with on Burn's CUDA backend.
//!
//! In a 7B layer and step cuBLAS fills memory before each of its gate and up kernels: two
//! fills of ~1 µs, each with a launch gap of ~2 µs around it, ~1 % of the step
//! (docs/results/gpu-prefill.md, the 32K timeline). This setting asked whether they go with
//! another workspace. On an H100 (2026-12-05) they do not go with a workspace of the lane's
//! own, and they go with none only because cuBLAS then takes kernels that need none and are
//! slower: whole prefills tie either way (gpu-prefill.md, "three calls to one H100"), so
//! cuBLAS's own pool stays the default. Every choice computes the same products; only
//! cuBLAS's kernels may differ.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The largest workspace the setting takes, in MiB.
pub const MAX_CUBLAS_WORKSPACE_MIB: usize = 4096;

/// The workspace cuBLAS's handles get (`cublasSetWorkspace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CublasWorkspace {
    /// cuBLAS's own workspace pool (what a handle has unless told otherwise).
    Default,
    /// No workspace: cuBLAS runs only kernels that need none.
    None,
    /// A device allocation of this many MiB, made once per handle and shared by the streams it
    /// queues on: products on two CubeCL streams at once (two threads prefilling on one
    /// device) would share it, so this is for one stream's work, as every binary here does.
    Mib(usize),
}

impl CublasWorkspace {
    /// Bytes of the allocation [`CublasWorkspace::Mib`] asks for; `None` for the others.
    pub fn allocation_bytes(self) -> Option<usize> {
        match self {
            // Saturating: a size past the address space fails as an allocation, not as garbage.
            Self::Mib(mib) => Some(mib.saturating_mul(1 << 20)),
            Self::Default | Self::None => None,
        }
    }

    /// One number per choice, for the process-wide setting.
    fn code(self) -> usize {
        match self {
            Self::Default => usize::MAX,
            Self::None => 0,
            Self::Mib(mib) => mib,
        }
    }

    fn from_code(code: usize) -> Self {
        match code {
            usize::MAX => Self::Default,
            0 => Self::None,
            mib => Self::Mib(mib),
        }
    }
}

impl fmt::Display for CublasWorkspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::None => f.write_str("none"),
            Self::Mib(mib) => write!(f, "{mib}"),
        }
    }
}

/// A workspace setting that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a cuBLAS workspace: `default` (cuBLAS's own pool), `none`, or a size in MiB \
     from 1 to {MAX_CUBLAS_WORKSPACE_MIB}"
)]
pub struct InvalidCublasWorkspace(String);

impl FromStr for CublasWorkspace {
    type Err = InvalidCublasWorkspace;

    /// `default`, `none` (or `0`), or a size in MiB, optionally followed by `MiB`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let invalid = || InvalidCublasWorkspace(s.to_string());
        match lower.as_str() {
            "default" => Ok(Self::Default),
            "none" | "0" => Ok(Self::None),
            size => {
                let digits = size.strip_suffix("mib").unwrap_or(size).trim_end();
                match digits.parse::<usize>() {
                    Ok(0) => Ok(Self::None),
                    Ok(mib) if mib <= MAX_CUBLAS_WORKSPACE_MIB => Ok(Self::Mib(mib)),
                    _ => Err(invalid()),
                }
            }
        }
    }
}

static SETTING: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The workspace every cuBLAS handle made or rebound to a stream afterwards gets, in the whole
/// process (cuBLAS's own pool unless set). Products already queued keep theirs.
pub fn set_cublas_workspace(workspace: CublasWorkspace) {
    SETTING.store(workspace.code(), Ordering::Relaxed);
}

/// The workspace [`set_cublas_workspace`] set last.
pub fn cublas_workspace() -> CublasWorkspace {
    CublasWorkspace::from_code(SETTING.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_print_back() {
        let cases = [
            ("default", CublasWorkspace::Default),
            ("Default", CublasWorkspace::Default),
            ("none", CublasWorkspace::None),
            ("0", CublasWorkspace::None),
            ("0MiB", CublasWorkspace::None),
            ("32", CublasWorkspace::Mib(32)),
            (" 32 MiB ", CublasWorkspace::Mib(32)),
            ("4096", CublasWorkspace::Mib(4096)),
        ];
        for (text, want) in cases {
            let parsed: CublasWorkspace = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed, want, "{text}");
            assert_eq!(parsed.to_string().parse::<CublasWorkspace>(), Ok(parsed));
        }
        assert_eq!(CublasWorkspace::Mib(32).allocation_bytes(), Some(32 << 20));
        assert_eq!(CublasWorkspace::None.allocation_bytes(), None);
        assert_eq!(
            CublasWorkspace::Mib(usize::MAX >> 4).allocation_bytes(),
            Some(usize::MAX)
        );
    }

    #[test]
    fn sizes_out_of_range_and_other_words_are_refused() {
        for bad in ["", "4097", "-1", "32 GiB", "1.5", "all", "mib"] {
            let error = bad.parse::<CublasWorkspace>().unwrap_err();
            assert!(
                error.to_string().contains("not a cuBLAS workspace"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn the_setting_holds_what_was_set() {
        // The only test that touches the process-wide setting; restored at the end.
        assert_eq!(cublas_workspace(), CublasWorkspace::Default);
        for workspace in [CublasWorkspace::None, CublasWorkspace::Mib(64)] {
            set_cublas_workspace(workspace);
            assert_eq!(cublas_workspace(), workspace);
        }
        set_cublas_workspace(CublasWorkspace::Default);
        assert_eq!(cublas_workspace(), CublasWorkspace::Default);
    }
}
