//! How many queries the CUDA attention scores at a time. Pure, so that it is tested without a
//! GPU (and compiled without the `cuda` feature, where nothing else uses it).
#![cfg_attr(not(feature = "cuda"), allow(dead_code))]

/// Largest score block, in f32 elements (128 MiB): bounds the scratch memory of a chunk's
/// attention whatever its length.
const SCORE_BLOCK_ELEMENTS: usize = 1 << 25;

/// Queries per block for `heads` query heads over `keys` keys: as many as fit the score block,
/// in multiples of 64 (at least 64, at most the chunk).
pub(super) fn query_block(heads: usize, keys: usize, chunk_len: usize) -> usize {
    let fit = SCORE_BLOCK_ELEMENTS / (heads * keys).max(1);
    (fit / 64 * 64).max(64).min(chunk_len)
}

#[cfg(test)]
mod tests {
    use super::query_block;

    #[test]
    fn query_blocks_fit_the_score_block() {
        // (heads, keys, chunk) -> rows
        let cases = [
            ((32, 2048, 1024), 512),
            ((32, 1024, 1024), 1024),
            ((9, 8192, 8192), 448),
            ((9, 2048, 1), 1),
            // Never fewer than 64 rows, however many keys.
            ((64, 1 << 20, 4096), 64),
        ];
        for ((heads, keys, chunk), want) in cases {
            assert_eq!(
                query_block(heads, keys, chunk),
                want,
                "{heads} heads, {keys} keys"
            );
        }
    }
}
