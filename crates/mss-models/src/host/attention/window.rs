//! Mistral's sliding window in the host attention: the scores it hides and the keys each
//! query still sees.

use super::Window;

/// Sets the scores of stacked row `row` for keys outside the window to `-inf` (they become
/// 0 in the softmax), in transposed scores `[key, lanes]`.
#[inline(always)]
pub(super) fn hide_outside_window(
    scores: &mut [f32],
    lanes: usize,
    row: usize,
    window: Window<'_>,
    key_at: usize,
    query: usize,
    visible: usize,
) {
    let query_position = window.query_positions[query];
    let key_positions = &window.key_positions[key_at..key_at + visible];
    for (key, &position) in key_positions.iter().enumerate() {
        if query_position - position >= window.size as i64 {
            scores[key * lanes + row] = f32::NEG_INFINITY;
        }
    }
}

/// Adds 1 for every key that `query` sees: the causal prefix `..visible`, less the keys the
/// window hides (read from the positions, not the probabilities, which may underflow to 0).
#[inline(always)]
pub(super) fn count_visible(
    seen: &mut [f32],
    visible: usize,
    window: Option<Window<'_>>,
    key_at: usize,
    query: usize,
) {
    match window {
        None => seen[..visible].iter_mut().for_each(|s| *s += 1.0),
        Some(w) => {
            let query_position = w.query_positions[query];
            let key_positions = &w.key_positions[key_at..key_at + visible];
            for (s, &position) in seen.iter_mut().zip(key_positions) {
                if query_position - position < w.size as i64 {
                    *s += 1.0;
                }
            }
        }
    }
}
