//! One layer's cached keys, values and document positions.

use std::ops::Range;

use burn::prelude::*;

use crate::{CoreError, Result};

/// The same run `range` on every one of `heads` rows: positions or indices that do not differ
/// between KV heads.
///
/// # Shapes
/// Returns `[heads, range.len()]`.
pub fn per_head_range<B: Backend>(
    range: Range<usize>,
    heads: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    let len = range.len();
    Tensor::<B, 1, Int>::arange(range.start as i64..range.end as i64, device)
        .reshape([1, len])
        .repeat_dim(0, heads)
}

/// `h · len` for every head `h`, `[heads, 1]`: where each head's entries start when the heads'
/// `len` entries are laid end to end ([`LayerKv::gather_rows`]).
pub fn row_offsets<B: Backend>(heads: usize, len: usize, device: &B::Device) -> Tensor<B, 2, Int> {
    Tensor::<B, 1, Int>::arange(0..heads as i64, device)
        .mul_scalar(len as i64)
        .reshape([heads, 1])
}

/// The KV entries one layer keeps: keys **before RoPE**, values, and the document position of
/// every entry, per KV head.
///
/// Keys are stored before RoPE so that a later step can rotate them to whatever positions it
/// chooses (compact positions as in the paper, or the original document positions).
/// Score-based pruners keep a different subset per KV head, so positions are per head too.
///
/// # Shapes
/// - `keys`: `[1, n_kv_heads, len, head_dim]`
/// - `values`: `[1, n_kv_heads, len, head_dim]`
/// - `positions`: `[n_kv_heads, len]`, document positions (0-based token index in the prompt)
#[derive(Debug, Clone)]
pub struct LayerKv<B: Backend> {
    /// Keys before RoPE.
    pub keys: Tensor<B, 4>,
    /// Values.
    pub values: Tensor<B, 4>,
    /// Document position of every entry, per KV head.
    pub positions: Tensor<B, 2, Int>,
}

impl<B: Backend> LayerKv<B> {
    /// Checks that keys, values and positions agree and wraps them.
    pub fn new(
        keys: Tensor<B, 4>,
        values: Tensor<B, 4>,
        positions: Tensor<B, 2, Int>,
    ) -> Result<Self> {
        let [kb, kh, kt, _] = keys.dims();
        let [vb, vh, vt, _] = values.dims();
        let [ph, pt] = positions.dims();
        if kb != 1 || [vb, vh, vt] != [kb, kh, kt] || [ph, pt] != [kh, kt] {
            return Err(CoreError::ShapeMismatch {
                what: "LayerKv keys [1, h, t, d] / values [1, h, t, d] / positions [h, t]".into(),
                expected: vec![1, kh, kt],
                actual: vec![vb, vh, vt, ph, pt],
            });
        }
        Ok(Self {
            keys,
            values,
            positions,
        })
    }

    /// Number of entries per KV head.
    pub fn len(&self) -> usize {
        self.keys.dims()[2]
    }

    /// Whether the layer holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of KV heads.
    pub fn n_kv_heads(&self) -> usize {
        self.keys.dims()[1]
    }

    /// `self` followed by `other` along the token axis.
    pub fn cat(self, other: Self) -> Self {
        Self {
            keys: Tensor::cat(vec![self.keys, other.keys], 2),
            values: Tensor::cat(vec![self.values, other.values], 2),
            positions: Tensor::cat(vec![self.positions, other.positions], 1),
        }
    }

    /// The entries `start..start + len` of every head.
    pub fn narrow(self, start: usize, len: usize) -> Self {
        Self {
            keys: self.keys.narrow(2, start, len),
            values: self.values.narrow(2, start, len),
            positions: self.positions.narrow(1, start, len),
        }
    }

    /// Keeps, for every KV head, the entries at `indices` (in the given order):
    /// [`keep`](Self::keep) with no head kept whole.
    ///
    /// # Shapes
    /// - `indices`: `[n_kv_heads, kept]`
    pub fn gather(self, indices: Tensor<B, 2, Int>) -> Self {
        self.keep(0, indices)
    }

    /// Keeps the entries at `rows` of every head's entries laid end to end (head `h`'s entry
    /// `i` is row `h · len + i`, [`row_offsets`]); row `h` of `rows` names entries of head `h`.
    ///
    /// Keys, values and positions are each viewed as rows and the kept rows copied whole (one
    /// `select` each), which on the CPU is a copy per row rather than index arithmetic per
    /// element as `gather` does; a caller that gathers every layer of a step alike can build
    /// the offsets once ([`gather`](Self::gather) and [`keep`](Self::keep) build them each
    /// time, except on CUDA, where they build none).
    ///
    /// On Burn's CUDA backend (feature `cuda`) the three copies are one kernel where it applies
    /// (`mss_core::cuda::gather_rows`: the KV kernels switched on, consistent shapes, i32
    /// positions).
    ///
    /// # Shapes
    /// - `rows`: `[n_kv_heads, kept]`
    pub fn gather_rows(self, rows: Tensor<B, 2, Int>) -> Self {
        #[cfg(feature = "cuda")]
        if let Some(kept) = crate::cuda::gather_rows(&self, &rows) {
            return kept;
        }
        let [h, kept] = rows.dims();
        let len = self.len();
        let d = self.keys.dims()[3];
        let dv = self.values.dims()[3];
        let rows = rows.reshape([h * kept]);
        Self {
            keys: self
                .keys
                .reshape([h * len, d])
                .select(0, rows.clone())
                .reshape([1, h, kept, d]),
            values: self
                .values
                .reshape([h * len, dv])
                .select(0, rows.clone())
                .reshape([1, h, kept, dv]),
            positions: self
                .positions
                .reshape([h * len])
                .select(0, rows)
                .reshape([h, kept]),
        }
    }

    /// Keeps every head's first `start` entries whole (sinks, frozen history) followed by its
    /// candidates, the entries from `start` on, at `kept`: pruning's gather.
    ///
    /// On Burn's CUDA backend (feature `cuda`) one kernel reads the indices as they are
    /// (`mss_core::cuda::keep_rows`); elsewhere the rows are built and
    /// [`gather_rows`](Self::gather_rows) copies them.
    ///
    /// # Shapes
    /// - `kept`: `[n_kv_heads, k]`, indices below `len - start`; returns `start + k` entries
    ///   per head
    pub fn keep(self, start: usize, kept: Tensor<B, 2, Int>) -> Self {
        #[cfg(feature = "cuda")]
        if let Some(entries) = crate::cuda::keep_rows(&self, start, &kept) {
            return entries;
        }
        let heads = kept.dims()[0];
        let device = kept.device();
        let offsets = row_offsets(heads, self.len(), &device);
        let rows = match start {
            0 => kept.add(offsets),
            _ => Tensor::cat(
                vec![
                    per_head_range(0..start, heads, &device).add(offsets.clone()),
                    kept.add(offsets.add_scalar(start as i64)),
                ],
                1,
            ),
        };
        self.gather_rows(rows)
    }

    /// Bytes held by keys and values.
    pub fn bytes(&self) -> usize {
        let k = self.keys.dims().iter().product::<usize>() * self.keys.dtype().size();
        let v = self.values.dims().iter().product::<usize>() * self.values.dtype().size();
        k + v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::TestBackend;

    fn kv(h: usize, t: usize, d: usize, offset: i64) -> LayerKv<TestBackend> {
        let device = Default::default();
        let n = (h * t * d) as i64;
        let keys = Tensor::<TestBackend, 1, Int>::arange(offset..offset + n, &device)
            .float()
            .reshape([1, h, t, d]);
        let values = keys.clone().neg();
        let positions = Tensor::<TestBackend, 1, Int>::arange(offset..offset + t as i64, &device)
            .reshape([1, t])
            .repeat_dim(0, h);
        LayerKv::new(keys, values, positions).unwrap()
    }

    #[test]
    fn gather_keeps_the_chosen_entries_per_head() {
        let device = Default::default();
        let layer = kv(2, 4, 3, 0);
        let idx = Tensor::<TestBackend, 2, Int>::from_data([[0, 3], [1, 2]], &device);
        let kept = layer.gather(idx);
        assert_eq!(kept.len(), 2);
        let keys: Vec<f32> = kept.keys.into_data().to_vec().unwrap();
        // head 0 keeps tokens 0 and 3, head 1 keeps tokens 1 and 2 (head 1 starts at 12).
        assert_eq!(
            keys,
            vec![0., 1., 2., 9., 10., 11., 15., 16., 17., 18., 19., 20.]
        );
        let pos: Vec<i32> = kept.positions.into_data().to_vec().unwrap();
        assert_eq!(pos, vec![0, 3, 1, 2]);
        let values: Vec<f32> = kept.values.into_data().to_vec().unwrap();
        assert_eq!(values[3], -9.0);
    }

    #[test]
    fn gather_rows_is_gather_with_the_head_offsets() {
        let device = Default::default();
        let (h, t, d) = (3, 6, 2);
        let idx = Tensor::<TestBackend, 2, Int>::from_data([[5, 0], [2, 3], [1, 1]], &device);
        let by_index = kv(h, t, d, 0).gather(idx.clone());
        let by_row = kv(h, t, d, 0).gather_rows(idx.add(row_offsets(h, t, &device)));
        let values = |kv: &LayerKv<TestBackend>| -> (Vec<f32>, Vec<f32>, Vec<i64>) {
            (
                kv.keys.to_data().to_vec().unwrap(),
                kv.values.to_data().to_vec().unwrap(),
                kv.positions.to_data().convert::<i64>().to_vec().unwrap(),
            )
        };
        assert_eq!(values(&by_index), values(&by_row));
        assert_eq!(
            values(&by_row).2,
            vec![5, 0, 2, 3, 1, 1],
            "positions of the kept entries, head by head"
        );
    }

    #[test]
    fn keep_holds_the_head_then_the_chosen_candidates() {
        let device = Default::default();
        let (h, t, d) = (2, 7, 2);
        let chosen = Tensor::<TestBackend, 2, Int>::from_data([[4, 0, 2], [1, 1, 3]], &device);
        for start in [0, 2] {
            let kept = kv(h, t, d, 10).keep(start, chosen.clone());
            assert_eq!(kept.len(), start + 3);
            let positions: Vec<i64> = kept.positions.to_data().convert::<i64>().to_vec().unwrap();
            let expected: Vec<i64> = [[4, 0, 2], [1, 1, 3]]
                .iter()
                .flat_map(|row| (0..start).chain(row.iter().map(|&i| start + i)))
                .map(|i| 10 + i as i64)
                .collect();
            assert_eq!(positions, expected, "start {start}");
            // Head 1's first key row is 10 + t·d; its entry i holds 10 + (t + i)·d.
            let keys: Vec<f32> = kept.keys.to_data().to_vec().unwrap();
            let last = start + 2;
            let expected_key = (10 + (t + start + 3) * d) as f32;
            assert_eq!(
                keys[((start + 3) + last) * d],
                expected_key,
                "start {start}"
            );
        }
    }

    #[test]
    fn cat_appends_along_tokens() {
        let joined = kv(2, 3, 2, 0).cat(kv(2, 1, 2, 100));
        assert_eq!(joined.len(), 4);
        assert_eq!(joined.positions.dims(), [2, 4]);
        assert_eq!(joined.bytes(), 2 * (2 * 4 * 2) * 4);
    }

    #[test]
    fn new_rejects_mismatched_positions() {
        let device = Default::default();
        let good = kv(2, 3, 2, 0);
        let bad = Tensor::<TestBackend, 2, Int>::zeros([2, 4], &device);
        let err = LayerKv::new(good.keys, good.values, bad).unwrap_err();
        assert!(err.to_string().contains("positions"), "{err}");
    }

    #[test]
    fn per_head_range_repeats_the_run_on_every_head() {
        let t = per_head_range::<TestBackend>(3..6, 2, &Default::default());
        assert_eq!(t.dims(), [2, 3]);
        let v: Vec<i64> = t.into_data().convert::<i64>().to_vec().unwrap();
        assert_eq!(v, vec![3, 4, 5, 3, 4, 5]);
    }
}
