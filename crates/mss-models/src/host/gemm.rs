//! Matrix products on host f32 slices through the `gemm` crate (the one Burn's Flex backend
//! uses), with strides checked against the slices: the host path's only `unsafe`.

#![allow(unsafe_code)]

use rayon::prelude::*;

/// A read-only strided matrix inside a slice: element `(r, c)` is
/// `data[offset + r * row_stride + c * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` matrix filling `data` from its start.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            offset: 0,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Whether every element lies inside the slice.
    fn in_bounds(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last =
            self.offset + (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
        last < self.data.len()
    }
}

/// How a product uses the machine's threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threads {
    /// On the calling thread (inside a task that is already one of many).
    One,
    /// Spread over rayon's pool when the product is large enough to pay for it.
    All,
}

/// Products below this many multiply-adds run on one thread: splitting them costs more than
/// it saves.
const PARALLEL_MIN_MACS: usize = 1 << 18;

/// `dst = a · b` (or `dst += a · b` when `accumulate`), scaled by `scale`; `dst` is row-major
/// `a.rows × b.cols` with row stride `dst_row_stride`, starting at `dst[0]`.
///
/// # Panics
/// If the inner dimensions differ or a matrix does not fit its slice.
pub(crate) fn matmul(
    dst: &mut [f32],
    dst_row_stride: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    scale: f32,
    accumulate: bool,
    threads: Threads,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "matmul: inner dimensions {k} and {}", b.rows);
    assert!(
        a.in_bounds() && b.in_bounds(),
        "matmul: operand out of its slice"
    );
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        dst_row_stride >= n && (m - 1) * dst_row_stride + n <= dst.len(),
        "matmul: destination {m}×{n} (row stride {dst_row_stride}) does not fit {}",
        dst.len()
    );
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * dst_row_stride..r * dst_row_stride + n].fill(0.0);
            }
        }
        return;
    }
    if m == 1 && threads == Threads::All && n * k >= PARALLEL_MIN_MACS {
        // gemm's matrix-vector path runs on one thread, and a decoding step is little else:
        // split the output row's columns over the pool instead.
        let columns = n
            .div_ceil(4 * rayon::current_num_threads())
            .next_multiple_of(64);
        dst[..n]
            .par_chunks_mut(columns)
            .enumerate()
            .for_each(|(i, part)| {
                let first = i * columns;
                let b = MatRef {
                    offset: b.offset + first * b.col_stride,
                    cols: part.len(),
                    ..b
                };
                let width = part.len();
                matmul(part, width, a, b, scale, accumulate, Threads::One);
            });
        return;
    }
    let parallelism = match threads {
        Threads::All if m * n * k >= PARALLEL_MIN_MACS => gemm::Parallelism::Rayon(0),
        _ => gemm::Parallelism::None,
    };
    // SAFETY: the asserts above keep every element gemm reads or writes inside its slice
    // (operands through `in_bounds`, the destination through the row-stride check); `dst` is
    // borrowed mutably, so it cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row_stride as isize,
            accumulate,
            a.data.as_ptr().add(a.offset),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr().add(b.offset),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0f32,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: MatRef<'_>, b: MatRef<'_>) -> Vec<f32> {
        let mut out = vec![0.0; a.rows * b.cols];
        for r in 0..a.rows {
            for c in 0..b.cols {
                out[r * b.cols + c] = (0..a.cols)
                    .map(|i| {
                        a.data[a.offset + r * a.row_stride + i * a.col_stride]
                            * b.data[b.offset + i * b.row_stride + c * b.col_stride]
                    })
                    .sum();
            }
        }
        out
    }

    #[test]
    fn strided_products_match_the_definition() {
        let a: Vec<f32> = (0..7 * 5).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        let b: Vec<f32> = (0..5 * 9).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
        let a = MatRef::row_major(&a, 7, 5);
        let b = MatRef::row_major(&b, 5, 9);
        // Row-major operands, then transposed views (column strides other than 1).
        for (a, b) in [(a, b), (b.t(), a.t())] {
            let want = naive(a, b);
            let mut got = vec![f32::NAN; a.rows * b.cols];
            matmul(&mut got, b.cols, a, b, 1.0, false, Threads::All);
            assert_eq!(got, want);
            // Accumulating and scaling: dst + 0.5 a b.
            matmul(&mut got, b.cols, a, b, 0.5, true, Threads::One);
            let want: Vec<f32> = want.iter().map(|x| x * 1.5).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_single_row_split_over_threads_matches_the_definition() {
        let (k, n) = (300, 1000);
        let a: Vec<f32> = (0..k).map(|i| ((i * 31) % 17) as f32 - 8.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 13) % 11) as f32 - 5.0).collect();
        let a = MatRef::row_major(&a, 1, k);
        for b in [MatRef::row_major(&b, k, n), MatRef::row_major(&b, n, k).t()] {
            let want = naive(a, b);
            let mut got = vec![f32::NAN; n];
            matmul(&mut got, n, a, b, 1.0, false, Threads::All);
            assert_eq!(got, want);
            matmul(&mut got, n, a, b, 1.0, true, Threads::All);
            let twice: Vec<f32> = want.iter().map(|x| x * 2.0).collect();
            assert_eq!(got, twice);
        }
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_short_destination_is_refused() {
        let a = vec![1.0; 6];
        let mut dst = vec![0.0; 3];
        matmul(
            &mut dst,
            2,
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&a, 3, 2),
            1.0,
            false,
            Threads::One,
        );
    }
}
