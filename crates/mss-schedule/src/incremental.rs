//! The uniform growth curves of incremental memory (IM), with the reference integer semantics.
//!
//! For step `i` (0-based chunk index) of `n` chunks and a final budget `M`, with
//! `a = M / n` (integer division), every curve gives `M` when `i >= n - 1`, and otherwise
//! truncates (Python `int(..)`) a float formula (spec §2.5):
//!
//! | curve | `m_i` for `i < n - 1` |
//! |---|---|
//! | `linear` | `a · (i+1)` (integer) |
//! | `square` | `i² · ((M − a) / (n−1)²) + a` |
//! | `sqrt` | `√i · ((M − a) / √(n−1)) + a` |
//! | `inverse_convex` | `M / (n − i)` |
//! | `inverse_concave` | `(M + a) − M / (i+1)` |
//!
//! The float operations run in the reference's order, so every result equals the reference
//! code's for sizes below 2⁵³. One difference: Python's `x ** 0.5` calls the C library's `pow`,
//! and this crate calls the correctly rounded [`f64::sqrt`]; they agree to the last bit except
//! in cases too rare to reach a truncation boundary.

use crate::ScheduleError;
use crate::limits::{MAX_CHUNKS, at_most};
use crate::names::Named;

/// A growth curve shared by every layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// `a · (i+1)`: equal increments.
    Linear,
    /// Slow start, fast end.
    Square,
    /// Fast start, slow end.
    Sqrt,
    /// `M / (n − i)`: slowest start.
    InverseConvex,
    /// `M + a − M / (i+1)`: fastest start.
    InverseConcave,
}

impl Curve {
    /// Every uniform curve.
    pub const ALL: [Curve; 5] = [
        Curve::Linear,
        Curve::Square,
        Curve::Sqrt,
        Curve::InverseConvex,
        Curve::InverseConcave,
    ];

    /// The reference name (`linear`, `square`, `sqrt`, `inverse_convex`, `inverse_concave`).
    pub fn name(self) -> &'static str {
        match self {
            Curve::Linear => "linear",
            Curve::Square => "square",
            Curve::Sqrt => "sqrt",
            Curve::InverseConvex => "inverse_convex",
            Curve::InverseConcave => "inverse_concave",
        }
    }

    /// The memory budget `m_step` kept after chunk `step` of `n_chunks`, growing to `memory`.
    ///
    /// `n_chunks` is `ceil(L / C)` with the reference chunk size `C`, also under decremental
    /// chunks. Steps at or past the last (and `n_chunks <= 1`) give `memory`. The result never
    /// exceeds `memory`.
    pub fn budget(self, step: usize, n_chunks: usize, memory: usize) -> usize {
        if step.saturating_add(1) >= n_chunks {
            return memory;
        }
        let a = memory / n_chunks;
        let (m, af) = (memory as f64, a as f64);
        let last = (n_chunks - 1) as f64;
        let value = match self {
            Curve::Linear => return a.saturating_mul(step + 1).min(memory),
            Curve::Square => ((step as f64) * (step as f64)) * ((m - af) / (last * last)) + af,
            Curve::Sqrt => (step as f64).sqrt() * ((m - af) / last.sqrt()) + af,
            Curve::InverseConvex => m / (n_chunks - step) as f64,
            Curve::InverseConcave => (memory + a) as f64 - m / (step + 1) as f64,
        };
        // `as` truncates toward zero like Python's `int` (and saturates).
        (value as usize).min(memory)
    }

    /// The budgets of all `n_chunks` steps.
    ///
    /// # Errors
    /// [`ScheduleError::TooLarge`] beyond [`MAX_CHUNKS`](crate::MAX_CHUNKS) chunks.
    pub fn budgets(self, n_chunks: usize, memory: usize) -> Result<Vec<usize>, ScheduleError> {
        at_most("number of chunks", n_chunks, MAX_CHUNKS)?;
        Ok((0..n_chunks)
            .map(|i| self.budget(i, n_chunks, memory))
            .collect())
    }
}

impl Named for Curve {
    const KIND: &'static str = "incremental curve";
    const ALL: &'static [Self] = &Curve::ALL;
    fn name(self) -> &'static str {
        Curve::name(self)
    }
}

crate::display_and_parse_by_name!(Curve, ScheduleError);

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §2.5, L=8192, C=1024, M=1024 (n=8, a=128).
    #[test]
    fn worked_table_8192_1024_1024() {
        let table: [(Curve, [usize; 8]); 5] = [
            (Curve::Linear, [128, 256, 384, 512, 640, 768, 896, 1024]),
            (Curve::Square, [128, 146, 201, 292, 420, 585, 786, 1024]),
            (Curve::Sqrt, [128, 466, 606, 714, 805, 885, 957, 1024]),
            (
                Curve::InverseConvex,
                [128, 146, 170, 204, 256, 341, 512, 1024],
            ),
            (
                Curve::InverseConcave,
                [128, 640, 810, 896, 947, 981, 1005, 1024],
            ),
        ];
        for (curve, expected) in table {
            assert_eq!(curve.budgets(8, 1024).unwrap(), expected, "{curve}");
        }
    }

    /// Spec §2.5, L=32768, C=1024, M=1024 (n=32, a=32), linear: 32, 64, …, 992, 1024.
    #[test]
    fn worked_table_32768_linear() {
        let expected: Vec<usize> = (1..=32).map(|k| 32 * k).collect();
        assert_eq!(Curve::Linear.budgets(32, 1024).unwrap(), expected);
        assert!(Curve::Linear.budgets(usize::MAX, 1024).is_err());
    }

    #[test]
    fn last_step_and_beyond_give_the_full_budget() {
        for curve in Curve::ALL {
            assert_eq!(curve.budget(7, 8, 1000), 1000);
            assert_eq!(curve.budget(usize::MAX, 8, 1000), 1000);
            assert_eq!(curve.budget(0, 1, 1000), 1000);
            assert_eq!(curve.budget(0, 0, 1000), 1000);
        }
    }

    #[test]
    fn memory_smaller_than_chunk_count_starts_at_zero() {
        // a = 3 / 8 = 0: linear keeps nothing until the last step.
        assert_eq!(
            Curve::Linear.budgets(8, 3).unwrap(),
            [0, 0, 0, 0, 0, 0, 0, 3]
        );
    }

    #[test]
    fn parses_names() {
        for curve in Curve::ALL {
            assert_eq!(curve.name().to_uppercase().parse::<Curve>(), Ok(curve));
        }
        assert_eq!(
            "inverse-concave".parse::<Curve>(),
            Ok(Curve::InverseConcave)
        );
        assert!("adaptive".parse::<Curve>().is_err());
    }
}
