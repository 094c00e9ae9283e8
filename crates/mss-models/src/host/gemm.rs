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

/// Parallel products of at most this many rows split their columns, longer ones their rows.
const COLUMN_BANDS_MAX_ROWS: usize = 512;

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
    let threads_available = rayon::current_num_threads();
    if threads == Threads::All && m * n * k >= PARALLEL_MIN_MACS && threads_available > 1 {
        // Bands of the product, one single-threaded gemm call each, handed out by rayon's work
        // stealing. gemm's own threading cuts every block of a product into one equal share
        // per thread and joins after each: the share of a thread that woke late (or was
        // preempted) held the other idle (one core alone in 7.5 % of a 256-token prefill's
        // 4 ms windows; 5.2 % with bands).
        let bands = 4 * threads_available;
        if m <= COLUMN_BANDS_MAX_ROWS {
            // A chunk's rows stay in cache while every band reads them; each band packs only
            // its own columns of the weights, so nothing is packed twice. Multiples of 64
            // columns keep gemm's 64-row panels whole.
            let band = n.div_ceil(bands).next_multiple_of(64);
            let dst = SharedDst(dst.as_mut_ptr());
            (0..n.div_ceil(band)).into_par_iter().for_each(|i| {
                let first = i * band;
                let b = MatRef {
                    offset: b.offset + first * b.col_stride,
                    cols: band.min(n - first),
                    ..b
                };
                // SAFETY: the destination was checked to hold `m` rows of `n` columns; band
                // `i` writes columns `first..first + b.cols` of each row and no other band does.
                unsafe { product(dst.at(first), dst_row_stride, a, b, scale, accumulate) };
            });
        } else {
            // Many rows: bands of rows, each packing the weights once for hundreds of rows
            // (column bands would stream all the rows from memory once per band).
            let band = row_band(m, threads_available);
            dst[..(m - 1) * dst_row_stride + n]
                .par_chunks_mut(band * dst_row_stride)
                .enumerate()
                .for_each(|(i, dst)| {
                    let first = i * band;
                    let a = MatRef {
                        offset: a.offset + first * a.row_stride,
                        rows: band.min(m - first),
                        ..a
                    };
                    // SAFETY: `dst` holds this band's rows (checked above for all of them).
                    unsafe { product(dst.as_mut_ptr(), dst_row_stride, a, b, scale, accumulate) };
                });
        }
        return;
    }
    // SAFETY: the operands and the destination were checked against their slices above.
    unsafe { product(dst.as_mut_ptr(), dst_row_stride, a, b, scale, accumulate) };
}

/// Rows per band of a product of `m > COLUMN_BANDS_MAX_ROWS` rows over `threads` threads:
/// about four bands per thread of at least [`COLUMN_BANDS_MAX_ROWS`] rows, then evened out to
/// equal bands, a multiple of the threads in number. Without the last step 624 rows (a
/// decremental chunk) were cut into 512 + 112, and one core sat idle through most of every
/// product: IMDC ran up to a fifth slower than FM.
fn row_band(m: usize, threads: usize) -> usize {
    let longest = m.div_ceil(4 * threads).max(COLUMN_BANDS_MAX_ROWS);
    let count = m.div_ceil(longest).next_multiple_of(threads);
    m.div_ceil(count)
}

/// The destination of [`matmul`] shared between bands that write disjoint columns.
struct SharedDst(*mut f32);
// SAFETY: the bands write disjoint elements (see `matmul`).
unsafe impl Sync for SharedDst {}

impl SharedDst {
    /// The element `offset` places on (a method, so that closures capture the whole wrapper).
    ///
    /// # Safety
    /// `offset` stays inside the destination.
    unsafe fn at(&self, offset: usize) -> *mut f32 {
        unsafe { self.0.add(offset) }
    }
}

/// One single-threaded gemm call.
///
/// # Safety
/// `a` and `b` lie inside their slices (`MatRef::in_bounds`), and `dst` is valid for writing
/// `a.rows` rows of `b.cols` elements, `dst_row_stride` apart, with no other writer of them.
unsafe fn product(
    dst: *mut f32,
    dst_row_stride: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    scale: f32,
    accumulate: bool,
) {
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            dst,
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
            gemm::Parallelism::None,
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
    fn products_split_into_bands_match_the_definition() {
        // Column bands (1 and 37 rows, 1000 columns: 64-multiples and a shorter last band) and
        // row bands (700 rows on 3 threads: 234, 234 and 232); a destination longer than the
        // product, with a row stride wider than it, whose gaps and tail must stay untouched.
        let pad = 5;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for (m, n, k) in [(1, 1000, 300), (37, 1000, 300), (700, 70, 30)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 31) % 17) as f32 - 8.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 13) % 11) as f32 - 5.0).collect();
            let a = MatRef::row_major(&a, m, k);
            for b in [MatRef::row_major(&b, k, n), MatRef::row_major(&b, n, k).t()] {
                let want = naive(a, b);
                let stride = n + pad;
                let mut got = vec![f32::NAN; m * stride + 7];
                pool.install(|| matmul(&mut got, stride, a, b, 1.0, false, Threads::All));
                let rows = |got: &[f32]| -> Vec<f32> {
                    (0..m)
                        .flat_map(|r| got[r * stride..r * stride + n].to_vec())
                        .collect()
                };
                assert_eq!(rows(&got), want, "{m}×{n}");
                let untouched = (0..m).all(|r| {
                    let end = ((r + 1) * stride).min(got.len());
                    got[r * stride + n..end].iter().all(|x| x.is_nan())
                });
                assert!(untouched, "{m}×{n}: a band wrote outside the product");
                pool.install(|| matmul(&mut got, stride, a, b, 1.0, true, Threads::All));
                let twice: Vec<f32> = want.iter().map(|x| x * 2.0).collect();
                assert_eq!(rows(&got), twice, "{m}×{n}, accumulated");
            }
        }
    }

    #[test]
    fn row_bands_are_even_and_a_multiple_of_the_threads() {
        // (rows, threads, rows per band)
        for (m, threads, band) in [
            (624, 2, 312),
            (632, 2, 316),
            (700, 3, 234),
            (1100, 2, 275),
            (2048, 2, 512),
            (4096, 2, 512),
            (8192, 2, 1024),
            (8192, 16, 512),
        ] {
            assert_eq!(row_band(m, threads), band, "{m} rows, {threads} threads");
            assert_eq!(m.div_ceil(band) % threads, 0, "{m} rows, {threads} threads");
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
