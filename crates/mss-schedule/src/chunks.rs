//! Chunk lengths: standard (spec §2.1) and decremental (IMDC, spec §2.6).
//!
//! Decremental chunks, for a memory sequence `m_0..m_{n-1}` (budget after each step):
//!
//! 1. `n = ceil(L / C)` with the reference chunk size `C`; if `n == 1` the one chunk is `L`;
//! 2. `c̄ = L / n` and `m̄ = (m_0 + … + m_{n−2}) / (n − 1)` (integer divisions);
//! 3. `c_0 = c̄`, `c_i = c̄ + m̄ − m_{i−1}` for `i ≥ 1`, and the last chunk is the remainder
//!    `L − (c_0 + … + c_{n−2})`.
//!
//! So `c_i + m_{i−1} = c̄ + m̄` for `1 ≤ i < n − 1`: every step reads as many memory entries
//! plus chunk tokens, and the last step absorbs the rounding. When the memory grows by more
//! than `c̄ + m̄` the formula gives a chunk of no tokens or fewer; that is
//! [`ScheduleError::NonPositiveChunk`], never a negative size.

use crate::limits::{MAX_CHUNKS, MAX_TOKENS, at_most};
use crate::{Curve, Result, ScheduleError};

/// `ceil(prompt_len / chunk)`.
///
/// # Errors
/// [`ScheduleError::EmptyPrompt`] for `prompt_len == 0`, [`ScheduleError::Zero`] for
/// `chunk == 0`.
pub fn num_chunks(prompt_len: usize, chunk: usize) -> Result<usize> {
    if prompt_len == 0 {
        return Err(ScheduleError::EmptyPrompt);
    }
    if chunk == 0 {
        return Err(ScheduleError::Zero { what: "chunk size" });
    }
    Ok(prompt_len.div_ceil(chunk))
}

/// Chunks of `chunk` tokens; the last one gets the remainder. `10000, 4096` gives
/// `[4096, 4096, 1808]`.
///
/// # Errors
/// Those of [`num_chunks`], and [`ScheduleError::TooLarge`] beyond
/// [`MAX_CHUNKS`](crate::MAX_CHUNKS) chunks.
pub fn standard_chunks(prompt_len: usize, chunk: usize) -> Result<Vec<usize>> {
    let n = num_chunks(prompt_len, chunk)?;
    at_most("number of chunks", n, MAX_CHUNKS)?;
    let mut lengths = vec![chunk; n];
    if let Some(last) = lengths.last_mut() {
        *last = prompt_len - chunk * (n - 1);
    }
    Ok(lengths)
}

/// Decremental chunks for a uniform curve: `n = ceil(L / C)` and the memory sequence
/// `curve.budgets(n, memory)`.
///
/// # Errors
/// Those of [`standard_chunks`] and [`decremental_chunks_for`].
pub fn decremental_chunks(
    prompt_len: usize,
    chunk: usize,
    memory: usize,
    curve: Curve,
) -> Result<Vec<usize>> {
    let n = num_chunks(prompt_len, chunk)?;
    at_most("number of chunks", n, MAX_CHUNKS)?;
    at_most("memory", memory, MAX_TOKENS)?;
    decremental_chunks_for(prompt_len, &curve.budgets(n, memory)?)
}

/// Decremental chunks balancing `memory[i]`, the memory budget after step `i`; there are
/// `memory.len()` chunks (see the module doc).
///
/// # Errors
/// [`ScheduleError::EmptyPrompt`], [`ScheduleError::Zero`] for an empty `memory`,
/// [`ScheduleError::TooLarge`] for more chunks than tokens or than
/// [`MAX_CHUNKS`](crate::MAX_CHUNKS), and [`ScheduleError::NonPositiveChunk`] when a chunk
/// would get no tokens.
pub fn decremental_chunks_for(prompt_len: usize, memory: &[usize]) -> Result<Vec<usize>> {
    let n = memory.len();
    if prompt_len == 0 {
        return Err(ScheduleError::EmptyPrompt);
    }
    if n == 0 {
        return Err(ScheduleError::Zero {
            what: "number of chunks",
        });
    }
    at_most("number of chunks", n, MAX_CHUNKS.min(prompt_len))?;
    if n == 1 {
        return Ok(vec![prompt_len]);
    }
    let mean_chunk = (prompt_len / n) as i128;
    let mean_memory = memory[..n - 1].iter().map(|&m| m as i128).sum::<i128>() / (n as i128 - 1);
    let mut lengths = Vec::with_capacity(n);
    let mut used: i128 = 0;
    for i in 0..n {
        let size = match i {
            0 => mean_chunk,
            _ if i == n - 1 => prompt_len as i128 - used,
            _ => mean_chunk + mean_memory - memory[i - 1] as i128,
        };
        if size <= 0 {
            return Err(ScheduleError::NonPositiveChunk { step: i, size });
        }
        used += size;
        // Every size is positive and the sizes sum to `prompt_len`, so each fits a usize.
        lengths.push(usize::try_from(size).map_err(|_| ScheduleError::Overflow {
            what: "decremental chunk size",
        })?);
    }
    Ok(lengths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_examples() {
        assert_eq!(standard_chunks(10000, 4096).unwrap(), [4096, 4096, 1808]);
        assert_eq!(standard_chunks(8192, 1024).unwrap(), [1024; 8]);
        assert_eq!(standard_chunks(3, 1024).unwrap(), [3]);
        assert_eq!(num_chunks(8193, 1024), Ok(9));
    }

    #[test]
    fn standard_rejects_zero_and_absurd_sizes() {
        assert_eq!(standard_chunks(0, 4), Err(ScheduleError::EmptyPrompt));
        assert_eq!(
            standard_chunks(4, 0),
            Err(ScheduleError::Zero { what: "chunk size" })
        );
        assert!(matches!(
            standard_chunks(usize::MAX, 1),
            Err(ScheduleError::TooLarge { .. })
        ));
    }

    /// Every worked example of spec §2.6 (linear IM).
    #[test]
    fn decremental_worked_examples() {
        let dc = |l, c, m| decremental_chunks(l, c, m, Curve::Linear).unwrap();
        assert_eq!(
            dc(8192, 1024, 1024),
            [1024, 1408, 1280, 1152, 1024, 896, 768, 640]
        );
        let long = dc(32768, 1024, 1024);
        let expected: Vec<usize> = std::iter::once(1024)
            .chain((1..32).map(|i| 1536 - 32 * i))
            .collect();
        assert_eq!(long, expected);
        assert_eq!(long[..3], [1024, 1504, 1472]);
        assert_eq!(long[30..], [576, 544]);
        assert_eq!(dc(32768, 8192, 4096), [8192, 9216, 8192, 7168]);
        assert_eq!(dc(8192, 2048, 512), [2048, 2176, 2048, 1920]);
        assert_eq!(dc(10000, 4096, 1024), [3333, 3503, 3164]);
    }

    #[test]
    fn decremental_keeps_chunk_plus_memory_constant() {
        let memory = Curve::Linear.budgets(8, 1024).unwrap();
        let chunks = decremental_chunks(8192, 1024, 1024, Curve::Linear).unwrap();
        for i in 1..8 {
            assert_eq!(chunks[i] + memory[i - 1], 1536, "step {i}");
        }
        // 10000/4096/1024: 3844, then the last chunk absorbs the rounding.
        let memory = Curve::Linear.budgets(3, 1024).unwrap();
        let chunks = decremental_chunks(10000, 4096, 1024, Curve::Linear).unwrap();
        assert_eq!([chunks[1] + memory[0], chunks[2] + memory[1]], [3844, 3846]);
    }

    #[test]
    fn decremental_single_chunk() {
        assert_eq!(
            decremental_chunks(1000, 1024, 4096, Curve::Sqrt).unwrap(),
            [1000]
        );
    }

    #[test]
    fn decremental_memory_too_large_for_the_chunk_is_an_error() {
        // n = 8, m_i = 512·(i+1), m̄ = 2048: c_6 = 1024 + 2048 − m_5 = 0.
        assert_eq!(
            decremental_chunks(8192, 1024, 4096, Curve::Linear),
            Err(ScheduleError::NonPositiveChunk { step: 6, size: 0 })
        );
        // A draft chunk in the middle can already be empty.
        assert!(matches!(
            decremental_chunks(8192, 1024, 8192, Curve::InverseConcave),
            Err(ScheduleError::NonPositiveChunk { .. })
        ));
    }

    #[test]
    fn decremental_rejects_more_chunks_than_tokens() {
        assert!(matches!(
            decremental_chunks_for(2, &[0, 0, 0]),
            Err(ScheduleError::TooLarge { .. })
        ));
        assert!(decremental_chunks_for(2, &[]).is_err());
    }
}
