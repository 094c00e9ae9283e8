//! What both flash kernels share: where a unit stands in the cube, the copies of rows to
//! shared memory (plain or `cp.async`), the queries' `A` fragments and a plane's scores against
//! 64 keys, scaled and masked.
//!
//! The layout is FlashAttention-2's on `mma.m16n8k16` (bf16 / f16 in, f32 out). A cube holds
//! 64 queries of one head per row tile a plane, a plane (32 lanes) 16 of them per row tile
//! (the attention kernel takes one or two row tiles, the statistics pass one). An accumulator
//! tile (16 × 8 f32) is two pairs per lane: lane `l` holds rows `l / 4` and `l / 4 + 8` ("g"
//! and "h"), columns `2 (l % 4)` and `+ 1`; the four lanes of a quad share their rows. Two
//! adjacent tiles of scores are, pair for pair, the `A` fragment of the next product, so
//! probabilities never leave registers.

use cubecl::cmma::MmaDefinition;
use cubecl::ir::MatrixIdent;
use cubecl::prelude::barrier::copy_async_checked;
use cubecl::prelude::*;

use mss_core::cuda::Strides;

use super::{BLOCK, UNITS, VECTOR, shared_stride};

/// A register fragment of an `mma` operand or accumulator: pairs of elements, 32 bits (two
/// bf16 / f16) or 64 bits (two f32) each.
pub(super) type Pairs<E> = Array<Vector<E, Const<2>>>;

/// The masked-out score: finite, so that `exp` of it minus any row max is 0, never NaN.
pub(super) const MASKED: f32 = -3.0e38;

/// How far (in scaled scores, natural log) a row's scores may grow past the max its
/// probabilities are taken against before the attention kernel moves it: probabilities stay
/// below `e⁸ ≈ 2981`.
pub(super) const STALE_MAX: f32 = 8.0;

/// The `mma` both kernels run: 16 × 8 × 16, `F` in, f32 accumulated.
#[cube]
pub(super) fn mma_definition<F: Float>() -> MmaDefinition<F, F, f32> {
    MmaDefinition::<F, F, f32>::new(16usize, 8usize, 16usize)
}

/// Rows `first .. first + count` of `source` (its row `r` at vector `base + r row_stride`;
/// zeros from row `rows` on) into `tile`, 16 bytes a unit at a time: each of the cube's units
/// copies `count d / (8 UNITS)` vectors, its loads issued together.
#[cube]
#[allow(clippy::too_many_arguments)]
pub(super) fn copy_rows<F: Float, N: Size>(
    source: &Array<Vector<F, N>>,
    base: usize,
    row_stride: usize,
    first: usize,
    rows: usize,
    tile: &mut SharedMemory<Vector<F, N>>,
    #[comptime] count: usize,
    #[comptime] d: usize,
) {
    let row_vectors = comptime![d / VECTOR];
    let stride = comptime![shared_stride(d)];
    let unit = (UNIT_POS_Y * 32 + UNIT_POS_X) as usize;
    #[unroll]
    for it in 0..comptime![count * (d / VECTOR) / UNITS] {
        let idx = unit + comptime![it * UNITS];
        let (r, c) = (idx / row_vectors, idx % row_vectors);
        let mut x = Vector::<F, N>::new(F::from_int(0));
        if first + r < rows {
            x = source[base + (first + r) * row_stride + c];
        }
        tile[r * stride + c] = x;
    }
}

/// Rows `first .. first + 64` of `source` into `tile`, as [`copy_rows`], but with `cp.async`
/// (16 bytes a unit at a time, rows from `rows` on filled with zeros by the copy itself): the
/// units go on at once, and the rows are there once each unit has committed its copies to a
/// barrier (`commit_copy_async`) and that barrier's phase is complete (`arrive_and_wait`).
#[cube]
#[allow(clippy::too_many_arguments)]
pub(super) fn copy_rows_async<F: Float, N: Size>(
    source: &Array<Vector<F, N>>,
    base: usize,
    row_stride: usize,
    first: usize,
    rows: usize,
    tile: &mut SharedMemory<Vector<F, N>>,
    #[comptime] d: usize,
) {
    let row_vectors = comptime![d / VECTOR];
    let stride = comptime![shared_stride(d)];
    let unit = (UNIT_POS_Y * 32 + UNIT_POS_X) as usize;
    #[unroll]
    for it in 0..comptime![BLOCK * (d / VECTOR) / UNITS] {
        let idx = unit + comptime![it * UNITS];
        let (r, c) = (idx / row_vectors, idx % row_vectors);
        // A row past `rows` copies nothing from a valid address (row 0's).
        let mut at = base + c;
        let mut length = 0usize;
        if first + r < rows {
            at += (first + r) * row_stride;
            length = 1usize;
        }
        let to = r * stride + c;
        copy_async_checked(
            &source.slice(at, at + length),
            &mut tile.slice_mut(to, to + 1usize),
            comptime![VECTOR as u32],
        );
    }
}

/// Copies rows `first .. first + count` of `head` of `x` (`[heads, rows, d]` at `strides`, in
/// vectors; zero rows past `rows`) to `tile`: the attention kernel's queries, the statistics
/// kernel's keys, read as [`query_fragment`]s. The cube is synchronised after.
#[cube]
#[allow(clippy::too_many_arguments)]
pub(super) fn copy_head_rows<F: Float, N: Size>(
    x: &Array<Vector<F, N>>,
    strides: &Strides,
    rows: usize,
    tile: &mut SharedMemory<Vector<F, N>>,
    head: usize,
    first: usize,
    #[comptime] count: usize,
    #[comptime] d: usize,
) {
    copy_rows(
        x,
        strides.at(head, 0usize),
        strides.at(0usize, 1usize),
        first,
        rows,
        tile,
        count,
        d,
    );
    sync_cube();
}

/// The `A` fragment of the 16 queries from row `first_row` of `q_s`, dimensions `16 kk ..
/// 16 kk + 16`: `ldmatrix` ×4 of the matrices (rows 0-7, dims 0-7), (rows 8-15, dims 0-7), (rows 0-7, dims
/// 8-15), (rows 8-15, dims 8-15). Read from shared memory at each use rather than held: 32
/// registers fewer per unit, which bound how many cubes an SM runs.
#[cube]
pub(super) fn query_fragment<F: Float, N: Size>(
    q_s: &SharedMemory<Vector<F, N>>,
    first_row: usize,
    kk: usize,
    #[comptime] d: usize,
) -> Pairs<F> {
    let mma = mma_definition::<F>();
    let (matrix, matrix_row) = ((UNIT_POS_X / 8) as usize, (UNIT_POS_X % 8) as usize);
    let stride = comptime![shared_stride(d)];
    let row = first_row + (matrix % 2usize) * 8usize + matrix_row;
    let at = row * stride + kk * 2usize + matrix / 2usize;
    mma.load_matrix::<Vector<F, N>, Const<2>>(
        &q_s.slice(at, at + 1usize),
        MatrixIdent::A,
        4usize,
        false,
    )
}

/// A zero accumulator tile.
#[cube]
pub(super) fn zero_pairs() -> Pairs<f32> {
    let mut tile = Pairs::<f32>::new(2usize);
    tile[0] = Vector::new(0.0f32);
    tile[1] = Vector::new(0.0f32);
    tile
}

/// The two `B` fragments (two registers each) of an `ldmatrix` ×4.
#[cube]
pub(super) fn split_fragments<E: Float>(regs: &Pairs<E>) -> (Pairs<E>, Pairs<E>) {
    let mut first = Pairs::<E>::new(2usize);
    let mut second = Pairs::<E>::new(2usize);
    first[0] = regs[0];
    first[1] = regs[1];
    second[0] = regs[2];
    second[1] = regs[3];
    (first, second)
}

/// The plane's scores against the 64 keys of `k_s`, `Q Kᵀ` unscaled (the callers fold the scale
/// into the exponent, one fused multiply-add per score instead of a multiply and a subtraction;
/// [`MASKED`] times a scale of at most 1 stays finite), the queries' fragments
/// read from `q_s` ([`query_fragment`]): for each of its `tiles` row tiles `m` (16 queries from
/// row `16 (tiles UNIT_POS_Y + m)` of `q_s`), 8 accumulator tiles of 8 keys, at `8 m + j`, with
/// [`MASKED`] where key `k0 + j` is past `keys` or past a row's last visible key (`limit_g + 16
/// m` for tile `m`'s row g, 8 more for its row h); `masked` says whether any may be. Each
/// `ldmatrix` ×4 of keys gives the `B` fragments of two key tiles, used by every row tile:
/// matrices (keys 0-7, dims 0-7), (keys 0-7, dims 8-15), (keys 8-15, dims 0-7), (keys 8-15,
/// dims 8-15).
#[cube]
#[allow(clippy::too_many_arguments)]
pub(super) fn score_tiles<F: Float, N: Size>(
    q_s: &SharedMemory<Vector<F, N>>,
    k_s: &SharedMemory<Vector<F, N>>,
    k0: usize,
    keys: usize,
    limit_g: usize,
    masked: bool,
    #[comptime] tiles: usize,
    #[comptime] d: usize,
) -> Sequence<Pairs<f32>> {
    let mma = mma_definition::<F>();
    let (matrix, matrix_row) = ((UNIT_POS_X / 8) as usize, (UNIT_POS_X % 8) as usize);
    let pair = (UNIT_POS_X % 4) as usize;
    let stride = comptime![shared_stride(d)];
    let first_row = UNIT_POS_Y as usize * comptime![16 * tiles];
    let mut s = Sequence::<Pairs<f32>>::new();
    #[unroll]
    for _ in 0..comptime![tiles * BLOCK / 8] {
        s.push(zero_pairs());
    }
    #[unroll]
    for kk in 0..d / 16usize {
        let mut a = Sequence::<Pairs<F>>::new();
        #[unroll]
        for m in 0..tiles {
            a.push(query_fragment(q_s, first_row + m * 16usize, kk, d));
        }
        #[unroll]
        for jp in 0..comptime![BLOCK / 16] {
            let at = (jp * 16usize + (matrix / 2usize) * 8usize + matrix_row) * stride
                + kk * 2usize
                + matrix % 2usize;
            let regs = mma.load_matrix::<Vector<F, N>, Const<2>>(
                &k_s.slice(at, at + 1usize),
                MatrixIdent::B,
                4usize,
                false,
            );
            let (b0, b1) = split_fragments(&regs);
            #[unroll]
            for m in 0..tiles {
                let tile = m * comptime![BLOCK / 8];
                mma.execute_inplace(a.index(m), &b0, s.index_mut(tile + 2usize * jp));
                mma.execute_inplace(a.index(m), &b1, s.index_mut(tile + 2usize * jp + 1usize));
            }
        }
    }
    if masked {
        #[unroll]
        for m in 0..tiles {
            let limit_g_m = limit_g + m * 16usize;
            let limit_h_m = limit_g_m + 8usize;
            #[unroll]
            for j in 0..comptime![BLOCK / 8] {
                let tile = s.index_mut(m * comptime![BLOCK / 8] + j);
                let mut x_g = tile[0];
                let mut x_h = tile[1];
                #[unroll]
                for e in 0..2usize {
                    let key = k0 + j * 8usize + pair * 2usize + e;
                    if key >= keys || key > limit_g_m {
                        x_g[e] = f32::new(comptime![MASKED]);
                    }
                    if key >= keys || key > limit_h_m {
                        x_h[e] = f32::new(comptime![MASKED]);
                    }
                }
                tile[0] = x_g;
                tile[1] = x_h;
            }
        }
    }
    s
}
