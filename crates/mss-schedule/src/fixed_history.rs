//! Slices of fixed-history incremental memory (FI, spec §2.4).
//!
//! FI freezes the old memory and appends a slice of each new chunk: the memory budget `M` is
//! split into `n` near-equal slices, `M / n` each, and the first `M mod n` slices get one
//! more. After the last chunk the memory holds `M` entries (fewer if a chunk has fewer tokens
//! than its slice: a chunk is kept whole when it has no more candidates than its slice).

use crate::limits::{MAX_CHUNKS, at_most};
use crate::{Result, ScheduleError};

/// The `n_chunks` slices of `memory`: base `memory / n_chunks`, the first
/// `memory % n_chunks` get `+1`. They sum to `memory`.
///
/// # Errors
/// [`ScheduleError::Zero`] for no chunks, [`ScheduleError::TooLarge`] beyond
/// [`MAX_CHUNKS`](crate::MAX_CHUNKS).
pub fn fi_slices(memory: usize, n_chunks: usize) -> Result<Vec<usize>> {
    if n_chunks == 0 {
        return Err(ScheduleError::Zero {
            what: "number of chunks",
        });
    }
    at_most("number of chunks", n_chunks, MAX_CHUNKS)?;
    let (base, extra) = (memory / n_chunks, memory % n_chunks);
    Ok((0..n_chunks)
        .map(|i| if i < extra { base + 1 } else { base })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §2.5: L=8192, C=1024, M=1024 gives 128 × 8.
    #[test]
    fn worked_example() {
        assert_eq!(fi_slices(1024, 8).unwrap(), [128; 8]);
    }

    #[test]
    fn remainder_goes_to_the_first_slices() {
        assert_eq!(fi_slices(10, 4).unwrap(), [3, 3, 2, 2]);
        assert_eq!(fi_slices(2, 4).unwrap(), [1, 1, 0, 0]);
        assert_eq!(fi_slices(0, 3).unwrap(), [0, 0, 0]);
    }

    #[test]
    fn rejects_zero_chunks() {
        assert!(fi_slices(10, 0).is_err());
    }
}
