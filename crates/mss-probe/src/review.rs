//! The review scheduler of the forgetting study (`algorithm.md` §4.2): copies of one chunk are
//! re-inserted into the prompt, to measure how rehearsal changes the forgetting curve.
//!
//! # Placement rules
//!
//! With `L` prompt tokens, chunk size `C` and memory size `M`:
//!
//! 1. The prompt is cut into `n = ceil(L / C)` chunks; chunk `j` is tokens
//!    `j·C .. min((j+1)·C, L)`.
//! 2. The reviewed chunk is `r = ceil(M / C)`, the first chunk that a memory of `M` entries
//!    cannot hold together with all the chunks before it. At least one chunk must follow it
//!    (`r ≤ n − 2`), else [`ProbeError::NothingToReview`].
//! 3. The review window is the `w' = min(length, n − 1 − r)` chunks after `r`. Slot `d`
//!    (`1 ≤ d ≤ w'`) is the boundary right after original chunk `r + d`: a copy there is read
//!    once `d` new chunks have been read since the original (slot `w'` may be the prompt's end).
//! 4. `times` = `k` copies go to `k` distinct slots `d_1 < … < d_k` (so `1 ≤ k ≤ w'`, else
//!    [`ProbeError::InvalidArgument`]):
//!    - `early`: `d_i = i`, the first `k` slots;
//!    - `late`: `d_i = w' − k + i`, the last `k` slots;
//!    - `uniform`: `d_i = ceil(i·w'/k)`, evenly spaced, the last at the window's end;
//!    - `exp`: `d_i = round(w'^(i/k))` (spaced repetition: gaps grow geometrically, the last at
//!      the window's end), each clamped to `[d_{i−1} + 1, w' − k + i]` so slots stay distinct.
//! 5. Each copy is the reviewed chunk's `C` tokens, whole. The new sequence is the original
//!    chunks in order with the copies after their slots' chunks; the original chunk keeps its
//!    range, and each copy's range in the new sequence is returned. Chunking the new sequence
//!    at `C` puts every copy in a chunk of its own, except after a short last chunk.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use mss_schedule::names::Named;

use crate::{ProbeError, Result};

/// Where the copies go in the review window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewKind {
    /// Evenly spaced.
    Uniform,
    /// Geometrically growing gaps.
    Exp,
    /// As early as possible.
    Early,
    /// As late as possible.
    Late,
}

impl ReviewKind {
    /// Every scheduler.
    pub const ALL: [ReviewKind; 4] = [Self::Uniform, Self::Exp, Self::Early, Self::Late];

    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uniform => "uniform",
            Self::Exp => "exp",
            Self::Early => "early",
            Self::Late => "late",
        }
    }
}

impl Named for ReviewKind {
    const KIND: &'static str = "review scheduler";
    const ALL: &'static [Self] = &ReviewKind::ALL;
    fn name(self) -> &'static str {
        ReviewKind::name(self)
    }
}

mss_schedule::display_and_parse_by_name!(ReviewKind, ProbeError);

/// The review scheduler's settings (`review_scheduler` of the original).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewConfig {
    /// Where the copies go.
    pub scheduler: ReviewKind,
    /// Number of copies (`k`).
    pub times: usize,
    /// Number of chunks after the reviewed one that may receive a copy (`w`).
    pub length: usize,
}

/// A prompt with review copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewed<T> {
    /// The new token sequence.
    pub tokens: Vec<T>,
    /// Index of the reviewed chunk in the original prompt.
    pub chunk: usize,
    /// The reviewed chunk's range (the same in the prompt and in the new sequence).
    pub reviewed: Range<usize>,
    /// The slots used (see the module's placement rules).
    pub slots: Vec<usize>,
    /// Each copy's range in the new sequence.
    pub copies: Vec<Range<usize>>,
}

impl<T> Reviewed<T> {
    /// The ranges for the forgetting probe: the reviewed chunk and its copies.
    pub fn tracked(&self) -> Vec<Range<usize>> {
        std::iter::once(self.reviewed.clone())
            .chain(self.copies.iter().cloned())
            .collect()
    }
}

/// The slots `d_1 < … < d_k` in `1..=window` of `config` (rule 4).
///
/// # Errors
/// [`ProbeError::InvalidArgument`] unless `1 ≤ times ≤ window`.
pub fn slots(config: &ReviewConfig, window: usize) -> Result<Vec<usize>> {
    let k = config.times;
    if k == 0 || k > window {
        return Err(ProbeError::InvalidArgument {
            name: "review times",
            reason: format!("{k} copies need 1 to {window} slots (the review window)"),
        });
    }
    let w = window;
    let slots = match config.scheduler {
        ReviewKind::Early => (1..=k).collect(),
        ReviewKind::Late => (1..=k).map(|i| w - k + i).collect(),
        ReviewKind::Uniform => (1..=k).map(|i| (i * w).div_ceil(k)).collect(),
        ReviewKind::Exp => {
            let mut slots = Vec::with_capacity(k);
            let mut previous = 0;
            for i in 1..=k {
                let ideal = (w as f64).powf(i as f64 / k as f64).round() as usize;
                let d = ideal.clamp(previous + 1, w - k + i);
                slots.push(d);
                previous = d;
            }
            slots
        }
    };
    Ok(slots)
}

/// Re-inserts copies of chunk `ceil(M / C)` of `tokens` after the chunks chosen by `config`
/// (the module's placement rules).
///
/// # Errors
/// [`ProbeError::InvalidArgument`] for `C = 0` or a number of copies outside `1..=w'`;
/// [`ProbeError::NothingToReview`] when no chunk follows the reviewed one.
pub fn review<T: Clone>(
    tokens: &[T],
    chunk: usize,
    memory: usize,
    config: &ReviewConfig,
) -> Result<Reviewed<T>> {
    if chunk == 0 {
        return Err(ProbeError::InvalidArgument {
            name: "chunk size",
            reason: "must be positive".into(),
        });
    }
    let n = tokens.len().div_ceil(chunk);
    let r = memory.div_ceil(chunk);
    if r + 2 > n {
        return Err(ProbeError::NothingToReview {
            chunk: r,
            chunks: n,
        });
    }
    let window = config.length.min(n - 1 - r);
    let slots = slots(config, window)?;
    let span = |j: usize| j * chunk..((j + 1) * chunk).min(tokens.len());
    let reviewed = span(r);
    let mut out = Vec::with_capacity(tokens.len() + slots.len() * chunk);
    let mut copies = Vec::with_capacity(slots.len());
    for j in 0..n {
        out.extend_from_slice(&tokens[span(j)]);
        for _ in slots.iter().filter(|&&d| r + d == j) {
            let start = out.len();
            out.extend_from_slice(&tokens[reviewed.clone()]);
            copies.push(start..out.len());
        }
    }
    Ok(Reviewed {
        tokens: out,
        chunk: r,
        reviewed,
        slots,
        copies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(scheduler: ReviewKind, times: usize, length: usize) -> ReviewConfig {
        ReviewConfig {
            scheduler,
            times,
            length,
        }
    }

    #[test]
    fn slots_follow_the_placement_rules() {
        use ReviewKind::*;
        let table: &[(ReviewKind, usize, usize, &[usize])] = &[
            (Early, 1, 6, &[1]),
            (Early, 3, 6, &[1, 2, 3]),
            (Late, 1, 6, &[6]),
            (Late, 3, 6, &[4, 5, 6]),
            (Uniform, 1, 6, &[6]),
            (Uniform, 2, 6, &[3, 6]),
            (Uniform, 3, 6, &[2, 4, 6]),
            (Uniform, 4, 6, &[2, 3, 5, 6]),
            (Uniform, 3, 3, &[1, 2, 3]),
            (Exp, 1, 6, &[6]),
            (Exp, 2, 6, &[2, 6]),
            (Exp, 3, 8, &[2, 4, 8]),
            (Exp, 3, 6, &[2, 3, 6]),
            (Exp, 4, 4, &[1, 2, 3, 4]),
            (Exp, 4, 16, &[2, 4, 8, 16]),
            (Exp, 2, 2, &[1, 2]),
        ];
        for &(kind, times, window, expected) in table {
            let got = slots(&config(kind, times, window), window).unwrap();
            assert_eq!(got, expected, "{kind} times {times} window {window}");
        }
    }

    #[test]
    fn copies_are_inserted_after_their_slots_chunks() {
        // 10 tokens, C = 2: chunks [0,1] [2,3] [4,5] [6,7] [8,9]; M = 2 reviews chunk 1.
        let tokens: Vec<u32> = (0..10).collect();
        let out = review(&tokens, 2, 2, &config(ReviewKind::Early, 2, 2)).unwrap();
        assert_eq!(out.chunk, 1);
        assert_eq!(out.reviewed, 2..4);
        assert_eq!(out.slots, vec![1, 2]);
        assert_eq!(out.tokens, vec![0, 1, 2, 3, 4, 5, 2, 3, 6, 7, 2, 3, 8, 9]);
        assert_eq!(out.copies, vec![6..8, 10..12]);
        assert_eq!(out.tracked(), vec![2..4, 6..8, 10..12]);
        for copy in &out.copies {
            assert_eq!(&out.tokens[copy.clone()], &[2, 3]);
        }
    }

    #[test]
    fn the_window_is_cut_at_the_prompt_end_and_a_copy_may_close_it() {
        // 9 tokens, C = 2: chunks 0..4 (the last has one token); M = 3 reviews chunk 2.
        let tokens: Vec<u32> = (0..9).collect();
        let out = review(&tokens, 2, 3, &config(ReviewKind::Late, 1, 10)).unwrap();
        assert_eq!((out.chunk, out.slots.clone()), (2, vec![2]));
        assert_eq!(out.tokens, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 4, 5]);
        assert_eq!(out.copies, vec![9..11]);
    }

    #[test]
    fn impossible_reviews_are_refused() {
        let tokens: Vec<u32> = (0..8).collect();
        let err = review(&tokens, 2, 6, &config(ReviewKind::Early, 1, 1)).unwrap_err();
        assert!(matches!(
            err,
            ProbeError::NothingToReview {
                chunk: 3,
                chunks: 4
            }
        ));
        let err = review(&tokens, 2, 2, &config(ReviewKind::Early, 3, 5)).unwrap_err();
        assert!(matches!(err, ProbeError::InvalidArgument { .. }), "{err}");
        let err = review(&tokens, 2, 2, &config(ReviewKind::Early, 0, 5)).unwrap_err();
        assert!(matches!(err, ProbeError::InvalidArgument { .. }));
        assert!(review(&tokens, 0, 2, &config(ReviewKind::Early, 1, 1)).is_err());
    }

    #[test]
    fn names_parse_and_print() {
        for kind in ReviewKind::ALL {
            assert_eq!(kind.name().parse::<ReviewKind>().unwrap(), kind);
        }
        assert_eq!(" EXP ".parse::<ReviewKind>().unwrap(), ReviewKind::Exp);
        assert!("linear".parse::<ReviewKind>().is_err());
    }
}
