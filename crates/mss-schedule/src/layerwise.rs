//! Layer-wise growth curves of incremental memory: `square_sqrt`, `double_inverse`, `adaptive`.
//!
//! - `square_sqrt`: layers below `num_layers / 2` follow [`Curve::Square`], the others
//!   [`Curve::Sqrt`].
//! - `double_inverse`: the lower half follows [`Curve::InverseConvex`], the upper half
//!   [`Curve::InverseConcave`].
//! - `adaptive`: `a` at step 0, `2a` at step 1, `M` at the last step, and in between
//!   `int(min(M, (i+1)·a·num_layers·softmax(r)_l))`, where `r_l` is layer `l`'s measured
//!   running-average memory retention (the share of the memory kept by a refresh) and the
//!   softmax runs over layers. The layers together therefore keep at most `num_layers` times
//!   the linear budget `(i+1)·a`, shared out by retention.
//!
//! The reference code of `adaptive` crashes from step 2 (spec §7 item 4); this crate implements
//! the intent. Because the budgets depend on measurements, the caller passes the retention
//! values (one per layer, in layer order, averaged over the steps so far) when asking for a
//! step's budgets: [`adaptive_budgets`]. The softmax runs in f64 (the reference used f32); if
//! float rounding would make the layers' total exceed `num_layers·(i+1)·a`, the largest budgets
//! are lowered by one token until it does not, so the total is a hard bound.

use crate::limits::{MAX_CHUNKS, MAX_LAYERS, at_most};
use crate::names::Named;
use crate::{Budget, Curve, Result, ScheduleError};

/// A growth curve that differs between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerwiseCurve {
    /// `square` for the lower half of the layers, `sqrt` for the upper half.
    SquareSqrt,
    /// `inverse_convex` for the lower half, `inverse_concave` for the upper half.
    DoubleInverse,
    /// Budgets shared out by measured per-layer retention ([`adaptive_budgets`]).
    Adaptive,
}

impl LayerwiseCurve {
    /// Every layer-wise curve.
    pub const ALL: [LayerwiseCurve; 3] = [
        LayerwiseCurve::SquareSqrt,
        LayerwiseCurve::DoubleInverse,
        LayerwiseCurve::Adaptive,
    ];

    /// The reference name (`square_sqrt`, `double_inverse`, `adaptive`).
    pub fn name(self) -> &'static str {
        match self {
            LayerwiseCurve::SquareSqrt => "square_sqrt",
            LayerwiseCurve::DoubleInverse => "double_inverse",
            LayerwiseCurve::Adaptive => "adaptive",
        }
    }

    /// The uniform curve that `layer` of `num_layers` follows, or `None` for `adaptive`.
    pub fn curve_for_layer(self, layer: usize, num_layers: usize) -> Option<Curve> {
        let lower = layer < num_layers / 2;
        match self {
            LayerwiseCurve::SquareSqrt if lower => Some(Curve::Square),
            LayerwiseCurve::SquareSqrt => Some(Curve::Sqrt),
            LayerwiseCurve::DoubleInverse if lower => Some(Curve::InverseConvex),
            LayerwiseCurve::DoubleInverse => Some(Curve::InverseConcave),
            LayerwiseCurve::Adaptive => None,
        }
    }

    /// The budget of every layer after chunk `step` of `n_chunks`.
    ///
    /// `retention` is read only by `adaptive`, and only at the steps whose budget depends on it
    /// (`2 <= step < n_chunks - 1`); pass `&[]` otherwise.
    ///
    /// # Errors
    /// [`ScheduleError::Zero`] or [`ScheduleError::TooLarge`] for a bad layer count, and the
    /// errors of [`adaptive_budgets`].
    pub fn budgets(
        self,
        step: usize,
        n_chunks: usize,
        memory: usize,
        num_layers: usize,
        retention: &[f64],
    ) -> Result<Vec<usize>> {
        check_layers(num_layers)?;
        if self == LayerwiseCurve::Adaptive {
            return adaptive_budgets(step, n_chunks, memory, num_layers, retention);
        }
        Ok((0..num_layers)
            .filter_map(|l| self.curve_for_layer(l, num_layers))
            .map(|c| c.budget(step, n_chunks, memory))
            .collect())
    }

    /// What a plan records for `step` before anything is measured: exact budgets, or for
    /// `adaptive` between steps 2 and `n_chunks - 2`, bounds (each layer at most
    /// `min(M, num_layers·(i+1)·a)`, the layers' mean at most `(i+1)·a`).
    pub(crate) fn planned(
        self,
        step: usize,
        n_chunks: usize,
        memory: usize,
        num_layers: usize,
    ) -> Result<Budget> {
        if self == LayerwiseCurve::Adaptive {
            if let Some(fixed) = adaptive_fixed(step, n_chunks, memory) {
                return Ok(Budget::Uniform(fixed));
            }
            let mean_max = Curve::Linear.budget(step, n_chunks, memory);
            let layer_max = mean_max.saturating_mul(num_layers).min(memory);
            return Ok(Budget::Measured {
                layer_max,
                mean_max,
            });
        }
        self.budgets(step, n_chunks, memory, num_layers, &[])
            .map(Budget::PerLayer)
    }

    /// The one memory sequence that decremental chunks balance: for `square_sqrt` and
    /// `double_inverse` the mean over layers (floored) of the layers' budgets, for `adaptive`
    /// the linear curve (the most its layers' mean can reach).
    ///
    /// # Errors
    /// [`ScheduleError::Zero`] for no layers, [`ScheduleError::TooLarge`] beyond
    /// [`MAX_CHUNKS`](crate::MAX_CHUNKS) chunks or [`MAX_LAYERS`](crate::MAX_LAYERS) layers.
    pub fn mean_budgets(
        self,
        n_chunks: usize,
        memory: usize,
        num_layers: usize,
    ) -> Result<Vec<usize>> {
        check_layers(num_layers)?;
        at_most("number of chunks", n_chunks, MAX_CHUNKS)?;
        Ok((0..n_chunks)
            .map(|i| match self {
                LayerwiseCurve::Adaptive => Curve::Linear.budget(i, n_chunks, memory),
                _ => {
                    let sum: u128 = (0..num_layers)
                        .filter_map(|l| self.curve_for_layer(l, num_layers))
                        .map(|c| c.budget(i, n_chunks, memory) as u128)
                        .sum();
                    (sum / num_layers as u128) as usize
                }
            })
            .collect())
    }
}

/// `Err` for no layers or more than [`MAX_LAYERS`](crate::MAX_LAYERS).
fn check_layers(num_layers: usize) -> Result<()> {
    if num_layers == 0 {
        return Err(ScheduleError::Zero {
            what: "number of layers",
        });
    }
    at_most("number of layers", num_layers, MAX_LAYERS)
}

/// The `adaptive` budgets that do not depend on retention: `a` at step 0, `2a` at step 1 and
/// `M` from the last step on; `None` for the steps in between.
fn adaptive_fixed(step: usize, n_chunks: usize, memory: usize) -> Option<usize> {
    let a = memory / n_chunks.max(1);
    match step {
        _ if step.saturating_add(1) >= n_chunks => Some(memory),
        0 => Some(a),
        1 => Some(a.saturating_mul(2).min(memory)),
        _ => None,
    }
}

/// The `adaptive` budget of every layer after chunk `step` of `n_chunks` (see the module doc).
///
/// `retention[l]` is layer `l`'s running-average memory retention so far; it is read only for
/// `2 <= step < n_chunks - 1` (pass `&[]` at the other steps).
///
/// # Errors
/// [`ScheduleError::Zero`] or [`ScheduleError::TooLarge`] for a bad layer count,
/// [`ScheduleError::RetentionLength`] if `retention`
/// has not one value per layer, [`ScheduleError::RetentionNotFinite`] for NaN or infinity.
pub fn adaptive_budgets(
    step: usize,
    n_chunks: usize,
    memory: usize,
    num_layers: usize,
    retention: &[f64],
) -> Result<Vec<usize>> {
    check_layers(num_layers)?;
    if let Some(fixed) = adaptive_fixed(step, n_chunks, memory) {
        return Ok(vec![fixed; num_layers]);
    }
    if retention.len() != num_layers {
        return Err(ScheduleError::RetentionLength {
            expected: num_layers,
            actual: retention.len(),
        });
    }
    if let Some((layer, &value)) = retention.iter().enumerate().find(|(_, r)| !r.is_finite()) {
        return Err(ScheduleError::RetentionNotFinite { layer, value });
    }
    let a = (memory / n_chunks) as u128;
    let total = (step as u128 + 1) * a * num_layers as u128;
    let max = retention.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = retention.iter().map(|r| (r - max).exp()).collect();
    let sum: f64 = weights.iter().sum();
    let mut budgets: Vec<usize> = weights
        .iter()
        .map(|w| ((total as f64) * (w / sum)).min(memory as f64) as usize)
        .collect();
    // Float rounding may overshoot the exact total by a token or two; give them back.
    let mut excess = budgets
        .iter()
        .map(|&b| b as u128)
        .sum::<u128>()
        .saturating_sub(total);
    while excess > 0 {
        let Some(largest) = budgets.iter_mut().max() else {
            break;
        };
        *largest -= 1;
        excess -= 1;
    }
    Ok(budgets)
}

impl Named for LayerwiseCurve {
    const KIND: &'static str = "layer-wise incremental curve";
    const ALL: &'static [Self] = &LayerwiseCurve::ALL;
    fn name(self) -> &'static str {
        LayerwiseCurve::name(self)
    }
}

crate::display_and_parse_by_name!(LayerwiseCurve, ScheduleError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_follow_their_curves() {
        let b = LayerwiseCurve::SquareSqrt
            .budgets(1, 8, 1024, 4, &[])
            .unwrap();
        assert_eq!(b, [146, 146, 466, 466]);
        let b = LayerwiseCurve::DoubleInverse
            .budgets(1, 8, 1024, 5, &[])
            .unwrap();
        // 5 / 2 = 2 layers below the middle.
        assert_eq!(b, [146, 146, 640, 640, 640]);
    }

    #[test]
    fn adaptive_fixed_steps_need_no_retention() {
        for (step, expected) in [(0, 128), (1, 256), (7, 1024), (9, 1024)] {
            let b = adaptive_budgets(step, 8, 1024, 3, &[]).unwrap();
            assert_eq!(b, [expected; 3], "step {step}");
        }
    }

    #[test]
    fn adaptive_equal_retention_is_linear() {
        let b = adaptive_budgets(3, 8, 1024, 4, &[0.2; 4]).unwrap();
        assert_eq!(b, [512; 4]);
    }

    #[test]
    fn adaptive_shares_by_softmax_and_caps_at_memory() {
        // (i+1)·a·L = 3·128·2 = 768; softmax([ln 3, 0]) = [0.75, 0.25].
        let b = adaptive_budgets(2, 8, 1024, 2, &[3f64.ln(), 0.0]).unwrap();
        assert_eq!(b, [576, 192]);
        // 7·128·2 = 1792 split 0.99/0.01 would give 1774 > M: capped.
        let b = adaptive_budgets(6, 8, 1024, 2, &[99f64.ln(), 0.0]).unwrap();
        assert_eq!(b, [1024, 17]);
    }

    #[test]
    fn adaptive_rejects_bad_retention() {
        assert_eq!(
            adaptive_budgets(2, 8, 1024, 3, &[0.1, 0.2]),
            Err(ScheduleError::RetentionLength {
                expected: 3,
                actual: 2
            })
        );
        assert!(matches!(
            adaptive_budgets(2, 8, 1024, 2, &[0.1, f64::NAN]),
            Err(ScheduleError::RetentionNotFinite { layer: 1, .. })
        ));
        assert!(adaptive_budgets(2, 8, 1024, 0, &[]).is_err());
        assert!(adaptive_budgets(0, 8, 1024, usize::MAX, &[]).is_err());
    }

    #[test]
    fn mean_budgets() {
        let sq = Curve::Square.budgets(8, 1024).unwrap();
        let sr = Curve::Sqrt.budgets(8, 1024).unwrap();
        let mean: Vec<usize> = sq.iter().zip(&sr).map(|(a, b)| (a + b) / 2).collect();
        assert_eq!(
            LayerwiseCurve::SquareSqrt.mean_budgets(8, 1024, 2),
            Ok(mean)
        );
        assert_eq!(
            LayerwiseCurve::Adaptive.mean_budgets(8, 1024, 2),
            Curve::Linear.budgets(8, 1024)
        );
        assert!(LayerwiseCurve::Adaptive.mean_budgets(8, 1024, 0).is_err());
    }

    #[test]
    fn parses_names() {
        for curve in LayerwiseCurve::ALL {
            assert_eq!(curve.name().parse::<LayerwiseCurve>(), Ok(curve));
        }
        assert!("smooth_adaptive".parse::<LayerwiseCurve>().is_err());
    }
}
