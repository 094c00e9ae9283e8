//! Runnable examples of mss live beside this crate as `examples/*.rs`; this library holds what
//! several of them share.

#[cfg(any(feature = "flex", feature = "cuda"))]
pub mod checks;
pub mod exit;
pub mod host_profile;
#[cfg(feature = "cuda")]
pub mod kernel_trace;
pub mod random;

/// The `--dtype` of every command line of the project: the weights' and activations' type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// 32-bit floats (the CPU's kernels; exact parity with transformers).
    F32,
    /// 16-bit floats.
    F16,
    /// bfloat16 (GPUs).
    Bf16,
}

impl Precision {
    /// Burn's dtype.
    pub fn dtype(self) -> burn::tensor::DType {
        match self {
            Self::F32 => burn::tensor::DType::F32,
            Self::F16 => burn::tensor::DType::F16,
            Self::Bf16 => burn::tensor::DType::BF16,
        }
    }

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        }
    }
}

/// The median of some timed runs: the mean of the middle two for an even count, as Python's
/// `statistics.median`, which gives the PyTorch yardstick's figures. At least one run.
pub fn median(runs: &[f64]) -> f64 {
    let mut sorted = runs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// On CUDA builds, keeps CubeCL's compiled kernels and autotune results between runs (in the
/// user's cache folder, or `$MSS_KERNEL_CACHE`); call it first thing in `main`. Returns the
/// folder where it configured one.
pub fn persist_kernel_caches() -> Option<std::path::PathBuf> {
    #[cfg(feature = "cuda")]
    return mss::models::persist_kernel_caches();
    #[cfg(not(feature = "cuda"))]
    None
}

/// Switches the linear layers' cuBLAS products (and the crate's other CUDA kernels) on or off
/// (CUDA builds; nothing to switch on others): the A/B of the timings and the model check.
pub fn switch_cublas(enabled: bool) {
    #[cfg(feature = "cuda")]
    mss::models::use_cublas(enabled);
    #[cfg(not(feature = "cuda"))]
    let _ = enabled;
}

/// Parses a size on the command line (clap's `value_parser`), refusing 0 at parse time with
/// one line instead of a run that fails later.
pub fn positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e} (a whole number of at least 1)")),
    }
}

/// Parses a comma-separated list of projections (`q,k,v`, `gate_proj,up_proj`; `none` for
/// none) for `mss::models::keep_weights_as_stored`; repeats are kept once.
pub fn projections(text: &str) -> Result<Vec<mss::models::Projection>, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut projections = Vec::new();
    for name in text.split(',') {
        let projection = name.parse().map_err(|e| format!("{e}"))?;
        if !projections.contains(&projection) {
            projections.push(projection);
        }
    }
    Ok(projections)
}

/// Parses a size in GiB (a positive number, fractions allowed) into bytes.
pub fn gibibytes(text: &str) -> Result<u64, String> {
    match text.trim().parse::<f64>() {
        Ok(g) if g.is_finite() && g > 0.0 && g < (1u64 << 33) as f64 => {
            Ok((g * (1u64 << 30) as f64) as u64)
        }
        Ok(g) => Err(format!("{g} is not a size in GiB (a positive number)")),
        Err(e) => Err(format!("{e} (a size in GiB, e.g. 1.5)")),
    }
}

/// Parses a sampling temperature: a finite number of at least 0 (0 is greedy).
pub fn temperature(text: &str) -> Result<f32, String> {
    match text.trim().parse::<f32>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        Ok(t) => Err(format!(
            "{t} is not a temperature (a finite number of at least 0)"
        )),
        Err(e) => Err(format!("{e} (a finite number of at least 0)")),
    }
}

/// Parses a probability mass in (0, 1], such as nucleus sampling's `top_p`.
pub fn probability_mass(text: &str) -> Result<f32, String> {
    match text.trim().parse::<f32>() {
        Ok(p) if p > 0.0 && p <= 1.0 => Ok(p),
        Ok(p) => Err(format!("{p} is outside (0, 1]")),
        Err(e) => Err(format!("{e} (a number in (0, 1])")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_refuse_what_the_library_would_refuse_later() {
        assert_eq!(positive("3"), Ok(3));
        assert!(positive("0").is_err() && positive("-1").is_err() && positive("x").is_err());
        assert_eq!(temperature("0"), Ok(0.0));
        assert!(temperature("-0.5").is_err() && temperature("inf").is_err());
        assert!(temperature("NaN").is_err());
        assert_eq!(gibibytes("1.5"), Ok(3 << 29));
        assert!(gibibytes("0").is_err() && gibibytes("-2").is_err() && gibibytes("inf").is_err());
        assert_eq!(probability_mass("1"), Ok(1.0));
        assert!(probability_mass("0").is_err() && probability_mass("1.5").is_err());
        assert!(probability_mass("NaN").is_err());
        use mss::models::Projection::{Down, Gate, Q, Up};
        assert_eq!(projections("gate,up_proj,gate"), Ok(vec![Gate, Up]));
        assert_eq!(projections("Down, q"), Ok(vec![Down, Q]));
        assert_eq!(projections("none"), Ok(vec![]));
        assert!(projections("").is_err() && projections("gate,,up").is_err());
        assert!(projections("qkv").unwrap_err().contains("not a projection"));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
        assert_eq!(median(&[5.0]), 5.0);
    }

    #[test]
    fn sizes_are_whole_numbers_of_at_least_one() {
        use super::positive;
        assert_eq!(positive("512"), Ok(512));
        assert_eq!(positive(" 7 "), Ok(7));
        assert_eq!(positive("0").unwrap_err(), "must be at least 1");
        assert!(positive("-3").unwrap_err().contains("at least 1"));
        assert!(positive("1k").is_err());
    }
}
