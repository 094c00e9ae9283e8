//! One cuBLAS product on raw device pointers, and how a strided row-major matrix is described
//! to column-major cuBLAS.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::OnceLock;

use burn::tensor::DType;
use cudarc::cublas::result as blas;
use cudarc::cublas::sys::{
    cublasComputeType_t, cublasGemmAlgo_t, cublasHandle_t, cublasOperation_t, cudaDataType,
};
use cudarc::driver::result as driver;

use super::operand::{Operand, Transpose};

/// Whether a `libcublas` can be loaded (looked for once).
pub(super) fn library_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: only tries to open the library by its candidate names.
    *PRESENT.get_or_init(|| unsafe { cudarc::cublas::sys::is_culib_present() })
}

/// The element type of a product's operands and result (all three alike), with the cuBLAS
/// types that go with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Precision {
    Bf16,
    F16,
    /// Full f32 arithmetic (not TF32): the f32 path is the one results are checked on.
    F32,
}

impl Precision {
    /// The precision of a dtype cuBLAS serves here; `None` for any other.
    pub fn of(dtype: DType) -> Option<Self> {
        match dtype {
            DType::BF16 => Some(Self::Bf16),
            DType::F16 => Some(Self::F16),
            DType::F32 => Some(Self::F32),
            _ => None,
        }
    }

    fn data_type(self) -> cudaDataType {
        match self {
            Self::Bf16 => cudaDataType::CUDA_R_16BF,
            Self::F16 => cudaDataType::CUDA_R_16F,
            Self::F32 => cudaDataType::CUDA_R_32F,
        }
    }
}

/// `C = A B` for row-major `A` (`m × k`), `B` (`k × n`) and a contiguous `C` (`m × n`), all of
/// one precision, accumulated in f32.
#[derive(Debug, Clone, Copy)]
pub(super) struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub precision: Precision,
    pub a: (u64, Operand),
    pub b: (u64, Operand),
    pub c: u64,
}

thread_local! {
    /// The cuBLAS handle of the thread that runs products: CubeCL's CUDA server thread, whose
    /// context is current.
    static HANDLE: Result<cublasHandle_t, String> =
        blas::create_handle().map_err(|e| format!("creating a cuBLAS handle: {e}"));
}

impl Gemm {
    /// Runs the product after every kernel already launched in the current context, and
    /// returns once it has finished, so that kernels launched afterwards see its result.
    ///
    /// # Safety
    /// The pointers must address live device allocations of the current context that hold the
    /// operands and the result as described, and must stay alive until this returns.
    pub unsafe fn run_synchronised(&self) -> Result<(), String> {
        // Row-major C = A B is column-major Cᵀ = Bᵀ Aᵀ: cuBLAS gets B first, and m and n swap.
        let (alpha, beta) = (1.0f32, 0.0f32);
        let data = self.precision.data_type();
        let dim = |x: usize| i32::try_from(x).map_err(|_| format!("{x} does not fit in i32"));
        let (m, n, k) = (dim(self.m)?, dim(self.n)?, dim(self.k)?);
        let (lda, ldb) = (dim(self.a.1.ld)?, dim(self.b.1.ld)?);
        driver::ctx::synchronize().map_err(|e| format!("synchronising before it: {e}"))?;
        let handle = HANDLE.with(|handle| handle.clone())?;
        // SAFETY: the caller vouches for the pointers; the null stream is the legacy default
        // stream, and the two waits bracket the product.
        unsafe {
            blas::set_stream(handle, std::ptr::null_mut())
                .map_err(|e| format!("setting cuBLAS's stream: {e}"))?;
            blas::gemm_ex(
                handle,
                operation(self.b.1),
                operation(self.a.1),
                n,
                m,
                k,
                (&alpha as *const f32).cast::<c_void>(),
                self.b.0 as *const c_void,
                data,
                ldb,
                self.a.0 as *const c_void,
                data,
                lda,
                (&beta as *const f32).cast::<c_void>(),
                self.c as *mut c_void,
                data,
                n,
                cublasComputeType_t::CUBLAS_COMPUTE_32F,
                cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
            .map_err(|e| format!("{self:?}: {e}"))?;
            driver::stream::synchronize(std::ptr::null_mut())
                .map_err(|e| format!("synchronising after it: {e}"))
        }
    }
}

/// The cuBLAS operation of an operand.
fn operation(operand: Operand) -> cublasOperation_t {
    match operand.op {
        Transpose::No => cublasOperation_t::CUBLAS_OP_N,
        Transpose::Yes => cublasOperation_t::CUBLAS_OP_T,
    }
}
