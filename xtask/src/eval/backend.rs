//! Where an eval runs: the device, the attention path of a CUDA build, and the backend's name
//! in records and manifests (results of two attention paths agree within bf16 rounding, not to
//! the bit, so they never share a report).

use super::{Backend, EvalArgs};

/// Checks the CUDA-only attention flags and, on a CUDA build, sets the attention path they ask
/// for.
///
/// # Errors
/// A usage error when a CPU build is given `--no-flash-attention` or `--no-cudnn-attention`.
pub fn select_attention(args: &EvalArgs) -> anyhow::Result<()> {
    let cuda_flags = [
        (args.no_flash_attention, "--no-flash-attention"),
        (args.no_cudnn_attention, "--no-cudnn-attention"),
    ];
    if let Some((_, flag)) = cuda_flags.iter().find(|(asked, _)| *asked)
        && !cfg!(feature = "cuda")
    {
        return Err(mss_examples::exit::bad_usage(format!(
            "{flag} picks the CUDA build's attention path (`--features cuda`); a CPU build has \
             only one"
        )));
    }
    #[cfg(feature = "cuda")]
    {
        mss::models::use_flash_attention(!args.no_flash_attention);
        mss::models::use_cudnn_attention(!args.no_cudnn_attention);
    }
    Ok(())
}

/// The device of `--device`.
#[cfg(feature = "cuda")]
pub fn device(index: Option<usize>) -> anyhow::Result<burn::tensor::Device<Backend>> {
    Ok(burn::backend::cuda::CudaDevice::new(index.unwrap_or(0)))
}

/// The device of `--device`: the CPU is one device, but CPU workers of `--devices` are
/// numbered as GPUs would be, so any index runs on it.
#[cfg(not(feature = "cuda"))]
pub fn device(_index: Option<usize>) -> anyhow::Result<burn::tensor::Device<Backend>> {
    Ok(Default::default())
}

/// The backend's name in manifests: `flex`, `cuda+cudnn` (cuDNN's attention, the default on
/// CUDA at bf16 and f16 where cuDNN ≥ 9.11 is found), `cuda+flash` (the flash kernels:
/// `--no-cudnn-attention`, or no such cuDNN), or `cuda` (products around a softmax).
pub fn name(args: &EvalArgs) -> String {
    name_of(attention_path(args))
}

/// The backend's name in records: [`name`] and the dtype (`cuda+cudnn bf16`).
pub fn label(args: &EvalArgs) -> String {
    format!("{} {}", name(args), args.dtype().name())
}

/// Whether this run's attention goes through the flash kernels: CUDA builds without
/// `--no-flash-attention`, at a dtype they serve (bf16, f16), with the crate's cuBLAS path
/// they run beside.
fn uses_flash_attention(args: &EvalArgs) -> bool {
    let dtype = args.dtype().dtype();
    #[cfg(feature = "cuda")]
    let cublas = mss::models::cublas_available();
    #[cfg(not(feature = "cuda"))]
    let cublas = false;
    flash_serves(cublas, !args.no_flash_attention, dtype)
}

/// Where this run's attention goes: cuDNN's fused attention where the flash kernels would run
/// it, `--no-cudnn-attention` is not given and cuDNN (≥ 9.11) is found; else as
/// [`uses_flash_attention`] says.
fn attention_path(args: &EvalArgs) -> AttentionPath {
    #[cfg(feature = "cuda")]
    let cudnn = !args.no_cudnn_attention && mss::models::cudnn_attention_available();
    #[cfg(not(feature = "cuda"))]
    let cudnn = false;
    match (uses_flash_attention(args), cudnn) {
        (true, true) => AttentionPath::Cudnn,
        (true, false) => AttentionPath::Flash,
        (false, _) => AttentionPath::Products,
    }
}

/// The attention path of a CUDA run (CPU builds have one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttentionPath {
    /// cuBLAS products around a softmax kernel.
    Products,
    /// The flash kernels.
    Flash,
    /// cuDNN's fused attention, the flash statistics kernel after it.
    Cudnn,
}

/// The flash kernels serve a run when asked for, beside cuBLAS, at bf16 or f16.
fn flash_serves(cublas: bool, asked: bool, dtype: burn::tensor::DType) -> bool {
    use burn::tensor::DType;
    cublas && asked && matches!(dtype, DType::BF16 | DType::F16)
}

/// The name of a build's backend with `attention` (see [`name`]).
fn name_of(attention: AttentionPath) -> String {
    match (cfg!(feature = "cuda"), attention) {
        (true, AttentionPath::Cudnn) => "cuda+cudnn".into(),
        (true, AttentionPath::Flash) => "cuda+flash".into(),
        (true, AttentionPath::Products) => "cuda".into(),
        (false, _) => "flex".into(),
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::DType;

    use super::{AttentionPath, flash_serves, name_of};

    #[test]
    fn the_flash_kernels_serve_bf16_and_f16_beside_cublas_only() {
        assert!(flash_serves(true, true, DType::BF16));
        assert!(flash_serves(true, true, DType::F16));
        assert!(!flash_serves(true, true, DType::F32));
        assert!(!flash_serves(false, true, DType::BF16));
        assert!(!flash_serves(true, false, DType::BF16));
    }

    #[test]
    fn the_backend_names_its_attention_path_on_cuda_only() {
        if cfg!(feature = "cuda") {
            assert_eq!(name_of(AttentionPath::Cudnn), "cuda+cudnn");
            assert_eq!(name_of(AttentionPath::Flash), "cuda+flash");
            assert_eq!(name_of(AttentionPath::Products), "cuda");
        } else {
            for path in [
                AttentionPath::Cudnn,
                AttentionPath::Flash,
                AttentionPath::Products,
            ] {
                assert_eq!(name_of(path), "flex");
            }
        }
    }
}
