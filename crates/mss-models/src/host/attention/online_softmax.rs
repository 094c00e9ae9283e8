//! The online softmax over a key block's transposed base-2 scores, and the two row-wise
//! passes of the statistics.

use crate::host::simd::exp2;

/// Rows handled side by side in one vector register.
pub(super) const LANES: usize = 16;

/// One key block of the online softmax over transposed base-2 scores `[key, row]`: raises
/// 2 to every score against its row's running maximum (raised to the block's if larger), adds
/// them to the row's running sum, and leaves in `rescale` the factor by which each row's
/// earlier output must be multiplied (1 where the maximum did not move). Hidden scores are
/// `-inf` and become 0; a row that has seen no key yet keeps a maximum of `-inf`.
///
/// # Shapes
/// - `scores`: `[keys, lanes]`; `max`, `total`, `shift`, `rescale`: `[lanes]`
#[inline(always)]
pub(super) fn online_softmax(
    scores: &mut [f32],
    max: &mut [f32],
    total: &mut [f32],
    shift: &mut [f32],
    rescale: &mut [f32],
) {
    let lanes = max.len();
    for first in (0..lanes).step_by(LANES) {
        let strip = first..first + LANES;
        // Two keys at a time into two sets of lanes: one chain would wait on each maximum's
        // and each sum's latency.
        let larger = |a: f32, b: f32| if b > a { b } else { a };
        let mut even: [f32; LANES] = max[strip.clone()].try_into().expect("strip");
        let mut odd = even;
        let pairs = scores.chunks_exact(2 * lanes);
        let last = pairs.remainder();
        for pair in pairs {
            let (first_key, second_key) = pair.split_at(lanes);
            for (m, &s) in even.iter_mut().zip(&first_key[strip.clone()]) {
                *m = larger(*m, s);
            }
            for (m, &s) in odd.iter_mut().zip(&second_key[strip.clone()]) {
                *m = larger(*m, s);
            }
        }
        if !last.is_empty() {
            for (m, &s) in even.iter_mut().zip(&last[strip.clone()]) {
                *m = larger(*m, s);
            }
        }
        for (e, &o) in even.iter_mut().zip(&odd) {
            *e = larger(*e, o);
        }
        let new_max = even;
        for (i, &m) in new_max.iter().enumerate() {
            // `-inf - -inf` would be NaN: rows that have seen nothing shift by 0 instead.
            let unseen = m == f32::NEG_INFINITY;
            shift[first + i] = if unseen { 0.0 } else { m };
            rescale[first + i] = if unseen {
                1.0
            } else {
                exp2(max[first + i] - m)
            };
        }
        let strip_shift: [f32; LANES] = shift[strip.clone()].try_into().expect("strip");
        let mut sums = [0.0f32; LANES];
        let mut odd_sums = [0.0f32; LANES];
        let mut pairs = scores.chunks_exact_mut(2 * lanes);
        for pair in &mut pairs {
            let (first_key, second_key) = pair.split_at_mut(lanes);
            for ((x, &s), sum) in first_key[strip.clone()]
                .iter_mut()
                .zip(&strip_shift)
                .zip(&mut sums)
            {
                *x = exp2(*x - s);
                *sum += *x;
            }
            for ((x, &s), sum) in second_key[strip.clone()]
                .iter_mut()
                .zip(&strip_shift)
                .zip(&mut odd_sums)
            {
                *x = exp2(*x - s);
                *sum += *x;
            }
        }
        let last = pairs.into_remainder();
        if !last.is_empty() {
            for ((x, &s), sum) in last[strip.clone()]
                .iter_mut()
                .zip(&strip_shift)
                .zip(&mut sums)
            {
                *x = exp2(*x - s);
                *sum += *x;
            }
        }
        for (sum, &odd) in sums.iter_mut().zip(&odd_sums) {
            *sum += odd;
        }
        for i in 0..LANES {
            total[first + i] = total[first + i] * rescale[first + i] + sums[i];
            max[first + i] = new_max[i];
        }
    }
}

/// Multiplies every key's scores by each row's factor (`[key, row]` layout).
#[inline(always)]
pub(super) fn scale_rows(scores: &mut [f32], factors: &[f32]) {
    for key in scores.chunks_exact_mut(factors.len()) {
        key.iter_mut().zip(factors).for_each(|(x, &f)| *x *= f);
    }
}

/// `2^(s - shift)` of every score, with each row's shift (`[key, row]` layout).
#[inline(always)]
pub(super) fn exp2_rows(scores: &mut [f32], shifts: &[f32]) {
    for key in scores.chunks_exact_mut(shifts.len()) {
        key.iter_mut()
            .zip(shifts)
            .for_each(|(x, &shift)| *x = exp2(*x - shift));
    }
}
