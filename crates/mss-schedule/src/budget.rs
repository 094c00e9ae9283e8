//! [`Budget`]: a number of memory entries (sinks excluded) per layer at one step.

use crate::{Result, ScheduleError};

/// Memory entries per layer, excluding sinks: a budget, or what the cache holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Budget {
    /// Every layer has the same number.
    Uniform(usize),
    /// One number per layer, in layer order.
    PerLayer(Vec<usize>),
    /// Known only during the prefill (the `adaptive` curve depends on measured retention);
    /// the plan records upper bounds.
    Measured {
        /// No layer exceeds this.
        layer_max: usize,
        /// The mean over layers does not exceed this.
        mean_max: usize,
    },
}

impl Budget {
    /// The exact number of `layer`, or `None` if it is only bounded or the layer is out of
    /// range of a per-layer budget.
    pub fn layer(&self, layer: usize) -> Option<usize> {
        match self {
            Budget::Uniform(v) => Some(*v),
            Budget::PerLayer(v) => v.get(layer).copied(),
            Budget::Measured { .. } => None,
        }
    }

    /// Whether every layer's number is known.
    pub fn is_exact(&self) -> bool {
        !matches!(self, Budget::Measured { .. })
    }

    /// The largest layer's number (an upper bound when measured).
    pub fn layer_max(&self) -> usize {
        match self {
            Budget::Uniform(v) => *v,
            Budget::PerLayer(v) => v.iter().copied().max().unwrap_or(0),
            Budget::Measured { layer_max, .. } => *layer_max,
        }
    }

    /// The mean over layers, rounded up (an upper bound when measured).
    pub fn mean_max(&self) -> usize {
        match self {
            Budget::Uniform(v) => *v,
            Budget::PerLayer(v) if v.is_empty() => 0,
            Budget::PerLayer(v) => {
                let sum = v.iter().map(|&x| x as u128).sum::<u128>();
                sum.div_ceil(v.len() as u128) as usize
            }
            Budget::Measured { mean_max, .. } => *mean_max,
        }
    }

    /// The sum over `n_layers` layers (an upper bound when measured).
    ///
    /// # Errors
    /// [`ScheduleError::LayerMismatch`] if a per-layer budget has another number of layers,
    /// [`ScheduleError::Overflow`] past `u64`.
    pub fn total_max(&self, n_layers: usize) -> Result<u64> {
        let overflow = ScheduleError::Overflow {
            what: "memory entries over layers",
        };
        match self {
            Budget::PerLayer(v) if v.len() != n_layers => Err(ScheduleError::LayerMismatch {
                plan: v.len(),
                model: n_layers,
            }),
            Budget::PerLayer(v) => v
                .iter()
                .try_fold(0u64, |acc, &x| acc.checked_add(x as u64))
                .ok_or(overflow),
            _ => (self.mean_max() as u64)
                .checked_mul(n_layers as u64)
                .ok_or(overflow),
        }
    }

    /// What a layer keeps when it must keep `self` entries out of `before` old entries plus
    /// `fresh` new ones: `min(budget, before + fresh)` per layer. Nothing is pruned when the
    /// candidates fit the budget.
    pub(crate) fn keep(&self, before: &Budget, fresh: usize) -> Budget {
        let keep = |b: usize, k: usize| b.min(k.saturating_add(fresh));
        match (self, before) {
            (Budget::Uniform(b), Budget::Uniform(k)) => Budget::Uniform(keep(*b, *k)),
            (Budget::PerLayer(b), Budget::Uniform(k)) => {
                Budget::PerLayer(b.iter().map(|&b| keep(b, *k)).collect())
            }
            (Budget::Uniform(b), Budget::PerLayer(k)) => {
                Budget::PerLayer(k.iter().map(|&k| keep(*b, k)).collect())
            }
            (Budget::PerLayer(b), Budget::PerLayer(k)) if b.len() == k.len() => {
                Budget::PerLayer(b.iter().zip(k).map(|(&b, &k)| keep(b, k)).collect())
            }
            // The mean of minima is at most the minimum of the means.
            _ => Budget::Measured {
                layer_max: keep(self.layer_max(), before.layer_max()),
                mean_max: keep(self.mean_max(), before.mean_max()),
            },
        }
    }

    /// Whether no layer of `self` exceeds `limit` (by the bounds, when measured).
    pub(crate) fn within(&self, limit: usize) -> bool {
        self.layer_max() <= limit
    }

    /// Whether `self` is at most `other` layer by layer (by the bounds, when either is
    /// measured).
    pub(crate) fn within_budget(&self, other: &Budget) -> bool {
        match (self, other) {
            (Budget::PerLayer(a), Budget::PerLayer(b)) if a.len() == b.len() => {
                a.iter().zip(b).all(|(a, b)| a <= b)
            }
            (Budget::PerLayer(a), Budget::PerLayer(_)) => a.is_empty(),
            (a, Budget::Uniform(b)) => a.layer_max() <= *b,
            (Budget::Uniform(a), Budget::PerLayer(b)) => b.iter().all(|b| a <= b),
            _ => self.layer_max() <= other.layer_max() && self.mean_max() <= other.mean_max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_of_each_kind() {
        let per = Budget::PerLayer(vec![1, 4, 2]);
        assert_eq!(per.layer_max(), 4);
        assert_eq!(per.mean_max(), 3); // ceil(7 / 3)
        assert_eq!(per.total_max(3), Ok(7));
        assert!(per.total_max(2).is_err());
        assert_eq!(per.layer(1), Some(4));
        assert_eq!(per.layer(3), None);
        let measured = Budget::Measured {
            layer_max: 9,
            mean_max: 5,
        };
        assert_eq!(measured.total_max(4), Ok(20));
        assert_eq!(measured.layer(0), None);
        assert_eq!(Budget::Uniform(6).total_max(2), Ok(12));
    }

    #[test]
    fn keep_takes_the_minimum_per_layer() {
        let b = Budget::Uniform(10);
        assert_eq!(b.keep(&Budget::Uniform(3), 4), Budget::Uniform(7));
        assert_eq!(b.keep(&Budget::Uniform(8), 4), Budget::Uniform(10));
        let per = Budget::PerLayer(vec![2, 20]);
        assert_eq!(
            per.keep(&Budget::Uniform(3), 4),
            Budget::PerLayer(vec![2, 7])
        );
        let measured = Budget::Measured {
            layer_max: 12,
            mean_max: 6,
        };
        assert_eq!(
            measured.keep(&Budget::PerLayer(vec![1, 3]), 4),
            Budget::Measured {
                layer_max: 7,
                mean_max: 6
            }
        );
    }

    #[test]
    fn within_budget_compares_layer_by_layer() {
        let per = Budget::PerLayer(vec![2, 20]);
        assert!(Budget::PerLayer(vec![2, 7]).within_budget(&per));
        assert!(!Budget::PerLayer(vec![3, 7]).within_budget(&per));
        assert!(Budget::Uniform(2).within_budget(&per));
        assert!(per.within_budget(&Budget::Uniform(20)));
    }
}
