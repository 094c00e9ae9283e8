//! Visibility masks beyond plain causality.

use burn::prelude::*;

/// Hides keys that lie `window` or more positions behind the query (Mistral's sliding window,
/// as in Hugging Face: key `j` is visible to query `i` iff `pos_i - pos_j < window`).
///
/// `true` means hidden.
///
/// # Shapes
/// - `query_positions`: `[chunk_len]`
/// - `key_positions`: `[n_kv_heads, keys]`
/// - returns `[1, n_kv_heads, chunk_len, keys]`
pub fn sliding_window_mask<B: Backend>(
    query_positions: Tensor<B, 1, Int>,
    key_positions: Tensor<B, 2, Int>,
    window: usize,
) -> Tensor<B, 4, Bool> {
    let [c] = query_positions.dims();
    let [h, t] = key_positions.dims();
    let q = query_positions.reshape([1, 1, c, 1]).expand([1, h, c, t]);
    let k = key_positions.reshape([1, h, 1, t]).expand([1, h, c, t]);
    q.sub(k).greater_equal_elem(window as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::TestBackend;

    #[test]
    fn hides_keys_a_window_or_more_behind() {
        let device = Default::default();
        let q = Tensor::<TestBackend, 1, Int>::from_data([3, 4], &device);
        let k = Tensor::<TestBackend, 2, Int>::from_data([[0, 1, 2, 3, 4]], &device);
        let mask: Vec<bool> = sliding_window_mask(q, k, 3).into_data().to_vec().unwrap();
        assert_eq!(
            mask,
            vec![
                true, false, false, false, false, true, true, false, false, false
            ]
        );
    }
}
