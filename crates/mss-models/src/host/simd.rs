//! Element-wise kernels of the host path, compiled for the CPU's vector units.
//!
//! [`vectorized`] runs a closure inside `pulp`'s dispatch, so the loops it inlines are compiled
//! for AVX2 + FMA (or whatever the running CPU offers) while the binary stays portable. The
//! kernels are plain loops without branches in their bodies so that they vectorise; `exp` is a
//! polynomial because the C library's is not vectorised.

use rayon::prelude::*;

/// Runs `f` compiled for the running CPU's vector instruction set. Everything `f` calls must be
/// `#[inline(always)]` to be compiled the same way.
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// Below this, `exp` is 0 (`exp(-87.3)` is the smallest normal f32); `-inf` lands here.
const EXP_LOWEST: f32 = -87.33;
const EXP_HIGHEST: f32 = 88.0;

/// `e^x` in f32 within about 2 ulp (Cephes' `expf` polynomial): `x = n ln 2 + r`,
/// `e^x = 2^n e^r` with `|r| <= ln 2 / 2`. Exactly 0 below `-87.33` and for `-inf`.
///
/// Written with `mul_add` so that inside [`vectorized`] each step is one fused multiply-add
/// (a separate multiply and add doubled the softmax's time); outside it, or on a CPU without
/// FMA, `mul_add` is a correctly rounded library call: slower, same result.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let clamped = x.clamp(EXP_LOWEST, EXP_HIGHEST);
    let n = clamped.mul_add(std::f32::consts::LOG2_E, 0.5).floor();
    // `ln 2` in two parts (Cody and Waite) so that `r` keeps its low bits.
    let r = n.mul_add(2.121_944_4e-4, n.mul_add(-0.693_359_4, clamped));
    let mut p = 1.987_569_1e-4_f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let y = p.mul_add(r * r, r) + 1.0;
    // `2^n` built in the exponent bits. `n` is read out of the float by adding 1.5 * 2^23
    // (which puts it in the low mantissa bits) rather than by `as i32`, whose saturating
    // semantics keep LLVM from vectorising the conversion.
    let n_bits = (n + 12_582_912.0).to_bits().wrapping_sub(0x4B40_0000);
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    if x < EXP_LOWEST { 0.0 } else { y * scale }
}

/// Below this, `2^x` is 0 (`2^-127` is not a normal f32); `-inf` lands here.
const EXP2_LOWEST: f32 = -127.0;
const EXP2_HIGHEST: f32 = 127.0;

/// `2^x` in f32 within about 2 ulp for `x >= -126` (Cephes' `exp2f` polynomial):
/// `x = n + r` with `n` the nearest integer and `|r| <= 1/2`, `2^x = 2^n 2^r`. Exactly 0 at
/// `-127` and below, `-inf` included.
///
/// The softmax of the attention works in base 2 (its scores are scaled by `log2 e` inside
/// the product, for free): this takes about two thirds of [`exp`]'s instructions, with no
/// reduction by `ln 2` and no separate test for the lowest inputs.
#[inline(always)]
pub(crate) fn exp2(x: f32) -> f32 {
    const ROUNDER: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer.
    let clamped = x.clamp(EXP2_LOWEST, EXP2_HIGHEST);
    let rounded = clamped + ROUNDER;
    let r = clamped - (rounded - ROUNDER);
    let mut p = 1.535_336_2e-4_f32;
    p = p.mul_add(r, 1.339_887_4e-3);
    p = p.mul_add(r, 9.618_437e-3);
    p = p.mul_add(r, 5.550_332_5e-2);
    p = p.mul_add(r, 2.402_264_8e-1);
    p = p.mul_add(r, 6.931_472e-1);
    let y = p.mul_add(r, 1.0);
    // `n` sits in the low mantissa bits of `rounded`; `(n + 127) << 23` is `2^n`, and 0 (the
    // value 0.0) for `n = -127`.
    let n_bits = rounded
        .to_bits()
        .wrapping_sub(ROUNDER.to_bits())
        .wrapping_add(127);
    y * f32::from_bits(n_bits << 23)
}

/// `x[i] /= sqrt(mean(x²) + eps)`, then `* weight[i]`, for every row of `x` (hidden wide),
/// as Hugging Face's `LlamaRMSNorm` in f32.
pub(crate) fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let hidden = weight.len();
    vectorized(
        #[inline(always)]
        || {
            for (row, out) in x.chunks_exact(hidden).zip(out.chunks_exact_mut(hidden)) {
                let squares = sum_of(row, |v| v * v);
                let rms = (squares / hidden as f32 + eps).sqrt();
                for ((o, &v), &w) in out.iter_mut().zip(row).zip(weight) {
                    *o = (v / rms) * w;
                }
            }
        },
    )
}

/// `Σ f(x)` in eight lanes, so that it vectorises (the order differs from a sequential sum by
/// rounding only).
#[inline(always)]
pub(crate) fn sum_of(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += f(x);
        }
    }
    rest.iter().fold(lanes.iter().sum(), |acc, &x| acc + f(x))
}

/// The largest element (`-inf` for none), in two independent sets of 16 lanes (one chain of
/// lanes waits on the max instruction's latency). NaN never wins a comparison here (scores
/// are finite or `-inf`); the plain comparison vectorises to one max instruction.
#[inline(always)]
pub(crate) fn max_of(xs: &[f32]) -> f32 {
    let larger = |a: f32, b: f32| if b > a { b } else { a };
    let mut even = [f32::NEG_INFINITY; 16];
    let mut odd = [f32::NEG_INFINITY; 16];
    let chunks = xs.chunks_exact(32);
    let rest = chunks.remainder();
    for chunk in chunks {
        let (low, high) = chunk.split_at(16);
        for (lane, &x) in even.iter_mut().zip(low) {
            *lane = larger(*lane, x);
        }
        for (lane, &x) in odd.iter_mut().zip(high) {
            *lane = larger(*lane, x);
        }
    }
    for (e, &o) in even.iter_mut().zip(&odd) {
        *e = larger(*e, o);
    }
    let lanes = fold_halves(even, larger);
    rest.iter().fold(lanes, |a, &b| larger(a, b))
}

/// Reduces 16 lanes to one by combining halves (four vector steps): folding them one after
/// another is a chain of 15 dependent instructions, which cost more than the loop over a row
/// of a few hundred elements.
#[inline(always)]
fn fold_halves(mut lanes: [f32; 16], combine: impl Fn(f32, f32) -> f32) -> f32 {
    let mut width = 16;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            lanes[i] = combine(lanes[i], lanes[i + width]);
        }
    }
    lanes[0]
}

/// `ln Σ_j e^{row_j} - row[target]`: the cross-entropy of one row of logits against its
/// target, shifted by the row's maximum so that no exponential overflows. Blocks of 1024
/// terms are summed in f32 lanes and the blocks in f64: one f32 sum over a 49K-word
/// vocabulary drifts by ~1e-5, which a perplexity shows.
pub(crate) fn cross_entropy(row: &[f32], target: usize) -> f32 {
    vectorized(
        #[inline(always)]
        || {
            let max = max_of(row);
            // A plain loop: a closure here would be compiled outside the vector dispatch.
            let mut sum = 0.0f64;
            for block in row.chunks(1024) {
                sum += sum_of(block, |v| exp(v - max)) as f64;
            }
            ((max - row[target]) as f64 + sum.ln()) as f32
        },
    )
}

/// Elements per task of the element-wise kernels that run on every core.
const PARALLEL_BLOCK: usize = 1 << 16;

/// SwiGLU's activation in place on rows `[gate; up]` of width `2 * ff`: the gate half becomes
/// `silu(gate) * up`. On every core.
pub(crate) fn silu_mul(gate_up: &mut [f32], ff: usize) {
    let rows_per_task = (PARALLEL_BLOCK / (2 * ff).max(1)).max(1);
    gate_up
        .par_chunks_mut(rows_per_task * 2 * ff)
        .for_each(|rows| {
            vectorized(
                #[inline(always)]
                || {
                    for row in rows.chunks_exact_mut(2 * ff) {
                        let (gate, up) = row.split_at_mut(ff);
                        for (g, &u) in gate.iter_mut().zip(&*up) {
                            *g = *g / (1.0 + exp(-*g)) * u;
                        }
                    }
                },
            )
        });
}

/// `x[r][..bias.len()] += bias` for the `rows` rows of `x`, `row_stride` apart.
pub(crate) fn add_bias(x: &mut [f32], row_stride: usize, rows: usize, bias: &[f32]) {
    for r in 0..rows {
        let row = &mut x[r * row_stride..r * row_stride + bias.len()];
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_a_few_ulp_of_std() {
        let mut worst = 0.0f64;
        for i in -87_000..88_000 {
            let x = i as f32 * 1e-3 + 0.000_37;
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn exp2_is_within_a_few_ulp_of_std() {
        let mut worst = 0.0f64;
        for i in -126_000..127_000 {
            let x = i as f32 * 1e-3 + 0.000_37;
            let want = (x as f64).exp2();
            let got = exp2(x) as f64;
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        for integer in -126..=127 {
            assert_eq!(exp2(integer as f32), (integer as f32).exp2(), "2^{integer}");
        }
        assert_eq!(exp2(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp2(-127.0), 0.0);
        assert_eq!(exp2(-1000.0), 0.0);
        assert_eq!(exp2(f32::INFINITY), 127.0f32.exp2());
    }

    #[test]
    fn cross_entropy_is_the_negative_log_softmax_of_the_target() {
        let row: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 1000) as f32 * 0.05 - 20.0)
            .collect();
        let lse = row.iter().map(|&v| (v as f64).exp()).sum::<f64>().ln();
        for target in [0, 17, 999] {
            let want = lse - row[target] as f64;
            let got = cross_entropy(&row, target) as f64;
            assert!(
                (got - want).abs() < 1e-5 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
        // Large logits do not overflow.
        assert!((cross_entropy(&[1000.0, 1000.0], 1) - std::f32::consts::LN_2).abs() < 1e-6);
    }

    #[test]
    fn rms_norm_and_silu_follow_their_definitions() {
        let x = [1.0, -2.0, 3.0, 0.5, 0.0, -1.0];
        let w = [1.0, 0.5, 2.0];
        let mut out = [0.0; 6];
        rms_norm(&x, &w, 1e-5, &mut out);
        for r in 0..2 {
            let row = &x[r * 3..r * 3 + 3];
            let rms = (row.iter().map(|v| v * v).sum::<f32>() / 3.0 + 1e-5).sqrt();
            for i in 0..3 {
                assert!((out[r * 3 + i] - row[i] / rms * w[i]).abs() < 1e-6);
            }
        }
        // Two rows of [gate; up], ff = 3.
        let mut gate_up = [
            -3.0f32, 0.0, 2.5, 2.0, 1.0, -1.0, 1.0, -1.0, 0.5, 3.0, 2.0, 4.0,
        ];
        silu_mul(&mut gate_up, 3);
        let silu = |v: f32| v / (1.0 + (-v).exp());
        let want = [
            silu(-3.0) * 2.0,
            0.0,
            -silu(2.5),
            silu(1.0) * 3.0,
            silu(-1.0) * 2.0,
            silu(0.5) * 4.0,
        ];
        for (g, want) in [&gate_up[..3], &gate_up[6..9]].concat().iter().zip(want) {
            assert!((g - want).abs() < 1e-6);
        }
        assert_eq!(
            gate_up[3..6],
            [2.0, 1.0, -1.0],
            "the up half is left as it was"
        );
    }
}
