//! Values keyed by step, layer and KV head, with their means along each axis.

use serde::{Deserialize, Serialize};

/// One probe value per step, layer and KV head; `None` where nothing was measured (e.g.
/// retention at step 0, when there is no old memory).
///
/// Means skip missing values; a mean over nothing is `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HeadTable {
    /// `values[step][layer][head]`.
    values: Vec<Vec<Vec<Option<f64>>>>,
}

impl HeadTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value of `(step, layer, head)`, growing the table as needed.
    pub fn set(&mut self, step: usize, layer: usize, head: usize, value: f64) {
        grow(&mut self.values, step + 1);
        let layers = &mut self.values[step];
        grow(layers, layer + 1);
        let heads = &mut layers[layer];
        if heads.len() <= head {
            heads.resize(head + 1, None);
        }
        heads[head] = Some(value);
    }

    /// The value of `(step, layer, head)`, if measured.
    pub fn get(&self, step: usize, layer: usize, head: usize) -> Option<f64> {
        *self.values.get(step)?.get(layer)?.get(head)?
    }

    /// Number of steps with a slot (measured or not).
    pub fn steps(&self) -> usize {
        self.values.len()
    }

    /// Number of layers with a slot at any step.
    pub fn layers(&self) -> usize {
        self.values.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// Whether nothing was measured.
    pub fn is_empty(&self) -> bool {
        self.mean().is_none()
    }

    /// The mean of every value.
    pub fn mean(&self) -> Option<f64> {
        mean(self.values.iter().flatten().flatten().flatten().copied())
    }

    /// Per step, the mean over layers and heads.
    pub fn by_step(&self) -> Vec<Option<f64>> {
        self.values
            .iter()
            .map(|layers| mean(layers.iter().flatten().flatten().copied()))
            .collect()
    }

    /// Per layer, the mean over steps and heads.
    pub fn by_layer(&self) -> Vec<Option<f64>> {
        (0..self.layers())
            .map(|layer| {
                mean(
                    self.values
                        .iter()
                        .filter_map(|layers| layers.get(layer))
                        .flatten()
                        .flatten()
                        .copied(),
                )
            })
            .collect()
    }

    /// Per step and layer (`[step][layer]`), the mean over heads.
    pub fn by_step_layer(&self) -> Vec<Vec<Option<f64>>> {
        let layers = self.layers();
        self.values
            .iter()
            .map(|row| {
                (0..layers)
                    .map(|layer| mean(row.get(layer).into_iter().flatten().flatten().copied()))
                    .collect()
            })
            .collect()
    }
}

fn grow<T: Default>(v: &mut Vec<T>, len: usize) {
    if v.len() < len {
        v.resize_with(len, T::default);
    }
}

/// The mean of `values`, `None` when there are none.
pub(crate) fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_follow_each_axis_and_skip_gaps() {
        let mut t = HeadTable::new();
        t.set(1, 0, 0, 0.2);
        t.set(1, 0, 1, 0.4);
        t.set(1, 2, 0, 1.0);
        t.set(2, 0, 0, 0.6);
        assert_eq!(t.steps(), 3);
        assert_eq!(t.layers(), 3);
        assert_eq!(t.get(1, 0, 1), Some(0.4));
        assert_eq!(t.get(0, 0, 0), None);
        assert_eq!(t.get(1, 1, 0), None);
        let by_step = t.by_step();
        assert_eq!(by_step[0], None);
        assert!((by_step[1].unwrap() - 1.6 / 3.0).abs() < 1e-12);
        assert_eq!(by_step[2], Some(0.6));
        let by_layer = t.by_layer();
        assert!((by_layer[0].unwrap() - 0.4).abs() < 1e-12);
        assert_eq!(by_layer[1], None);
        assert_eq!(by_layer[2], Some(1.0));
        let grid = t.by_step_layer();
        assert!((grid[1][0].unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(grid[1][1..], [None, Some(1.0)]);
        assert!((t.mean().unwrap() - 0.55).abs() < 1e-12);
    }

    #[test]
    fn an_empty_table_has_no_mean_and_serialises_as_nested_arrays() {
        let mut t = HeadTable::new();
        assert!(t.is_empty());
        t.set(0, 1, 0, 0.5);
        assert_eq!(serde_json::to_string(&t).unwrap(), "[[[],[0.5]]]");
        let back: HeadTable = serde_json::from_str("[[[],[0.5]]]").unwrap();
        assert_eq!(back, t);
    }
}
