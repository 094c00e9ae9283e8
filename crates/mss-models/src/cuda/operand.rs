//! How a strided row-major matrix is described to column-major cuBLAS. Pure, so that it is
//! tested without a GPU (and compiled without the `cuda` feature, where nothing else uses it).
#![cfg_attr(not(feature = "cuda"), allow(dead_code))]

/// A matrix in device memory as cuBLAS reads it: row-major `X` (`rows × cols`, strides in
/// elements) is, in column-major terms, `Xᵀ` with leading dimension `row_stride` when its
/// columns are unit-strided, or `X` with leading dimension `col_stride` when its rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Operand {
    /// The operation that turns the column-major matrix in memory into `Xᵀ`.
    pub op: Transpose,
    /// Leading dimension of the column-major matrix in memory.
    pub ld: usize,
}

/// Whether cuBLAS transposes an operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transpose {
    No,
    Yes,
}

impl Operand {
    /// How cuBLAS reads a row-major `rows × cols` matrix with these strides; `None` when
    /// neither stride is 1 (or a stride overlaps rows or columns): such a matrix must be made
    /// contiguous first.
    pub fn of(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Option<Self> {
        // A dimension of extent 1 may carry any stride: it is never stepped over.
        let col_stride = if cols == 1 { 1 } else { col_stride };
        let row_stride = if rows == 1 {
            row_stride.max(cols)
        } else {
            row_stride
        };
        if col_stride == 1 && row_stride >= cols.max(1) {
            Some(Self {
                op: Transpose::No,
                ld: row_stride,
            })
        } else if row_stride == 1 && col_stride >= rows.max(1) {
            Some(Self {
                op: Transpose::Yes,
                ld: col_stride,
            })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_row_major_matrices_map_to_cublas_operands() {
        // (rows, cols, row stride, col stride) -> (op, ld)
        let cases = [
            ((4, 3, 3, 1), Some((Transpose::No, 3))),
            // A transposed view of a contiguous [3, 4]: rows are unit-strided.
            ((4, 3, 1, 4), Some((Transpose::Yes, 4))),
            // Rows of a wider storage (a fused projection's view).
            ((4, 3, 10, 1), Some((Transpose::No, 10))),
            // One row: its stride is never used.
            ((1, 5, 0, 1), Some((Transpose::No, 5))),
            // One column of a transposed view.
            ((6, 1, 1, 6), Some((Transpose::No, 1))),
            // Neither stride 1, or rows overlapping: not expressible.
            ((4, 3, 6, 2), None),
            ((4, 3, 2, 1), None),
        ];
        for ((rows, cols, row_stride, col_stride), want) in cases {
            let got = Operand::of(rows, cols, row_stride, col_stride).map(|o| (o.op, o.ld));
            assert_eq!(
                got, want,
                "{rows}×{cols} strides ({row_stride}, {col_stride})"
            );
        }
    }
}
