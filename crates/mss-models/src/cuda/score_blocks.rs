//! How many queries the CUDA attention scores at a time. Pure, so that it is tested without a
//! GPU (and compiled without the `cuda` feature, where nothing else uses it).
#![cfg_attr(not(feature = "cuda"), allow(dead_code))]

use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest score block by default, in f32 elements (128 MiB): bounds the scratch memory of a
/// chunk's attention whatever its length.
pub const DEFAULT_SCORE_BLOCK_ELEMENTS: usize = 1 << 25;

static SCORE_BLOCK_ELEMENTS: AtomicUsize = AtomicUsize::new(DEFAULT_SCORE_BLOCK_ELEMENTS);

/// Sets the largest block of f32 attention scores the CUDA attention materialises at a time
/// (at least 2¹⁶ elements), for every model in the process: smaller blocks hold less scratch
/// memory and may stay in the GPU's L2 cache between the products and the softmax; larger
/// ones mean fewer, larger products. Every size computes the same attention.
pub fn set_attention_score_block(elements: usize) {
    SCORE_BLOCK_ELEMENTS.store(elements.max(1 << 16), Ordering::Relaxed);
}

/// The block of queries the CUDA attention scores at a time, as set.
pub(super) fn query_block(heads: usize, keys: usize, chunk_len: usize) -> usize {
    balanced_query_block(
        SCORE_BLOCK_ELEMENTS.load(Ordering::Relaxed),
        heads,
        keys,
        chunk_len,
    )
}

/// Queries per block for `heads` query heads over `keys` keys: the fewest blocks whose scores
/// fit `block_elements`, made as even as multiples of 64 allow (so that no block is a thin
/// remainder: 1024 queries in blocks of at most 448 are 384, 384 and 256, not 448, 448 and
/// 128); at least 64 rows, at most the chunk.
fn balanced_query_block(
    block_elements: usize,
    heads: usize,
    keys: usize,
    chunk_len: usize,
) -> usize {
    let fit = (block_elements / (heads * keys).max(1) / 64 * 64).max(64);
    if fit >= chunk_len {
        return chunk_len.max(1);
    }
    let blocks = chunk_len.div_ceil(fit);
    chunk_len.div_ceil(blocks).next_multiple_of(64).min(fit)
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_SCORE_BLOCK_ELEMENTS, balanced_query_block};

    #[test]
    fn query_blocks_fit_the_score_block_evenly() {
        // (heads, keys, chunk) -> rows
        let cases = [
            // 448 rows fit: three blocks of 384, 384 and 256 instead of 448, 448 and 128.
            ((32, 2052, 1024), 384),
            ((32, 2048, 1024), 512),
            ((32, 1024, 1024), 1024),
            // 448 fit; 8192 rows are 19 blocks, 432 each rounded up to 448.
            ((9, 8192, 8192), 448),
            ((9, 2048, 1), 1),
            // Never fewer than 64 rows, however many keys.
            ((64, 1 << 20, 4096), 64),
        ];
        for ((heads, keys, chunk), want) in cases {
            let rows = balanced_query_block(DEFAULT_SCORE_BLOCK_ELEMENTS, heads, keys, chunk);
            assert_eq!(rows, want, "{heads} heads, {keys} keys, {chunk} queries");
        }
    }

    #[test]
    fn blocks_cover_the_chunk_within_the_budget() {
        for block_elements in [1 << 18, 1 << 22, 1 << 25] {
            for (heads, keys) in [(32, 2052), (9, 5000), (4, 300)] {
                for chunk in [1, 63, 64, 65, 700, 1024, 4097] {
                    let keys = keys.max(chunk);
                    let rows = balanced_query_block(block_elements, heads, keys, chunk);
                    assert!((1..=chunk).contains(&rows), "{rows} of {chunk}");
                    let fit = (block_elements / (heads * keys) / 64 * 64).max(64);
                    assert!(rows <= fit, "{rows} rows over {fit}");
                    // No more blocks than the largest blocks that fit would need.
                    assert_eq!(chunk.div_ceil(rows), chunk.div_ceil(fit.min(chunk)));
                }
            }
        }
    }
}
