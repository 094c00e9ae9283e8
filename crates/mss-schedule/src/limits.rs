//! Upper limits on sizes, so that absurd inputs fail with an error instead of overflowing or
//! exhausting memory.

use crate::{Result, ScheduleError};

/// The most tokens accepted for a prompt, chunk, memory or sink count (2⁴⁰, about 10¹²).
pub const MAX_TOKENS: usize = 1 << 40;

/// The most chunks a plan may have (2²⁰).
pub const MAX_CHUNKS: usize = 1 << 20;

/// The most layers accepted (2¹⁶).
pub const MAX_LAYERS: usize = 1 << 16;

/// The most per-layer budget entries a plan may hold (chunks × layers, 2²⁴).
pub const MAX_PLAN_ENTRIES: usize = 1 << 24;

/// `Err(TooLarge)` if `value > max`.
pub(crate) fn at_most(what: &'static str, value: usize, max: usize) -> Result<()> {
    if value > max {
        return Err(ScheduleError::TooLarge { what, value, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_reports_the_numbers() {
        assert_eq!(at_most("chunk size", 4, 4), Ok(()));
        assert_eq!(
            at_most("chunk size", 5, 4),
            Err(ScheduleError::TooLarge {
                what: "chunk size",
                value: 5,
                max: 4
            })
        );
    }
}
