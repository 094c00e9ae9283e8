//! One cuBLAS product on raw device pointers (its lane and ordering: `cublas_lane`).
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::OnceLock;

use burn::tensor::DType;
use cudarc::cublas::result as blas;
use cudarc::cublas::sys::{
    cublasComputeType_t, cublasGemmAlgo_t, cublasHandle_t, cublasOperation_t, cudaDataType,
};

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

/// `C_i = alpha A_i B_i + beta C_i` for `batch` row-major products `A_i` (`m × k`), `B_i` (`k × n`) into
/// `C_i` (`m × n`, rows `ldc` apart), matrix `i` of each operand `batch_strides` elements after
/// matrix `i - 1`; accumulated in f32. `A` and `B` share one precision, `C` may have another (f32
/// attention scores from bf16 queries and keys).
#[derive(Debug, Clone, Copy)]
pub(super) struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub inputs: Precision,
    pub output: Precision,
    pub alpha: f32,
    /// 0 overwrites `C` (its old contents are never read), 1 adds to it.
    pub beta: f32,
    pub a: (u64, Operand),
    pub b: (u64, Operand),
    /// The result's address and row stride.
    pub c: (u64, usize),
    pub batch: usize,
    /// Elements between consecutive matrices of `A`, `B` and `C` (unused for a batch of one).
    pub batch_strides: [usize; 3],
}

impl Gemm {
    /// One product `C = A B` of one precision into a contiguous `C`.
    pub fn single(
        [m, n, k]: [usize; 3],
        precision: Precision,
        a: (u64, Operand),
        b: (u64, Operand),
        c: u64,
    ) -> Self {
        Self {
            m,
            n,
            k,
            inputs: precision,
            output: precision,
            alpha: 1.0,
            beta: 0.0,
            a,
            b,
            c: (c, n),
            batch: 1,
            batch_strides: [0; 3],
        }
    }
}

impl Gemm {
    /// Queues the product on `handle`'s stream.
    pub(super) unsafe fn launch(&self, handle: cublasHandle_t) -> Result<(), String> {
        // Row-major C = A B is column-major Cᵀ = Bᵀ Aᵀ: cuBLAS gets B first, and m and n swap.
        let (inputs, output) = (self.inputs.data_type(), self.output.data_type());
        let dim = |x: usize| i32::try_from(x).map_err(|_| format!("{x} does not fit in i32"));
        let stride = |x: usize| i64::try_from(x).map_err(|_| format!("{x} does not fit in i64"));
        let (m, n, k) = (dim(self.m)?, dim(self.n)?, dim(self.k)?);
        let (lda, ldb, ldc) = (dim(self.a.1.ld)?, dim(self.b.1.ld)?, dim(self.c.1)?);
        let alpha = (&self.alpha as *const f32).cast::<c_void>();
        let beta = (&self.beta as *const f32).cast::<c_void>();
        let (a, b, c) = (
            self.a.0 as *const c_void,
            self.b.0 as *const c_void,
            self.c.0 as *mut c_void,
        );
        let (compute, algo) = (
            cublasComputeType_t::CUBLAS_COMPUTE_32F,
            cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        );
        let (op_b, op_a) = (operation(self.b.1), operation(self.a.1));
        // SAFETY: the caller vouches for the pointers.
        let result = if self.batch == 1 {
            unsafe {
                blas::gemm_ex(
                    handle, op_b, op_a, n, m, k, alpha, b, inputs, ldb, a, inputs, lda, beta, c,
                    output, ldc, compute, algo,
                )
            }
        } else {
            let [stride_a, stride_b, stride_c] = self.batch_strides;
            let (stride_a, stride_b, stride_c) =
                (stride(stride_a)?, stride(stride_b)?, stride(stride_c)?);
            unsafe {
                blas::gemm_strided_batched_ex(
                    handle,
                    op_b,
                    op_a,
                    n,
                    m,
                    k,
                    alpha,
                    b,
                    inputs,
                    ldb,
                    stride_b,
                    a,
                    inputs,
                    lda,
                    stride_a,
                    beta,
                    c,
                    output,
                    ldc,
                    stride_c,
                    dim(self.batch)?,
                    compute,
                    algo,
                )
            }
        };
        result.map_err(|e| format!("{self:?}: {e}"))
    }
}

/// The cuBLAS operation of an operand.
fn operation(operand: Operand) -> cublasOperation_t {
    match operand.op {
        Transpose::No => cublasOperation_t::CUBLAS_OP_N,
        Transpose::Yes => cublasOperation_t::CUBLAS_OP_T,
    }
}
