//! The forgetting curve: how long the memory holds on to chosen parts of the prompt.

use std::ops::Range;

use crate::event::observer;
use crate::{ForgettingReport, HeadTable, HostEvent, Probe};

/// The share of memory (sinks excluded) whose document position lies in tracked token ranges,
/// per step, layer and KV head (`algorithm.md` §4.1, `MemoryForgive`).
///
/// By default the tracked range is the first chunk (the chunk of step 0, whatever its length:
/// decremental chunks included). With the review scheduler, track the reviewed chunk and its
/// copies ([`Reviewed::tracked`](crate::Reviewed::tracked)). Under FM with `C = M` and the
/// `random` pruner the first-chunk share halves at every step in expectation.
#[derive(Debug, Clone, Default)]
pub struct Forgetting {
    /// Ranges given by the user; `None` tracks the first chunk.
    given: Option<Vec<Range<usize>>>,
    /// The ranges in force for the current prefill.
    tracked: Vec<Range<usize>>,
    share: HeadTable,
}

impl Forgetting {
    /// Tracks the first chunk.
    pub fn first_chunk() -> Self {
        Self::default()
    }

    /// Tracks the given token ranges of the prompt.
    pub fn tracking(ranges: Vec<Range<usize>>) -> Self {
        Self {
            tracked: ranges.clone(),
            given: Some(ranges),
            share: HeadTable::new(),
        }
    }

    /// The ranges tracked (the first chunk's is known once step 0 was seen).
    pub fn tracked(&self) -> &[Range<usize>] {
        &self.tracked
    }

    /// The tracked share of memory per step, layer and KV head.
    pub fn share(&self) -> &HeadTable {
        &self.share
    }

    /// The report of what was recorded.
    pub fn report(&self) -> ForgettingReport {
        ForgettingReport {
            tracked: self.tracked.clone(),
            by_step: self.share.by_step(),
            by_step_layer: self.share.by_step_layer(),
            share: self.share.clone(),
        }
    }

    fn is_tracked(&self, position: i64) -> bool {
        let p = position as usize;
        self.tracked.iter().any(|r| r.contains(&p))
    }
}

impl Probe for Forgetting {
    fn start(&mut self, _prompt_len: usize, _n_layers: usize) {
        self.tracked = self.given.clone().unwrap_or_default();
        self.share = HeadTable::new();
    }

    fn record(&mut self, event: &HostEvent) {
        if self.given.is_none() && event.step == 0 && self.tracked.is_empty() {
            self.tracked = vec![event.chunk.clone()];
        }
        for head in 0..event.n_kv_heads() {
            let memory = event.new_memory(head);
            if memory.is_empty() {
                continue;
            }
            let inside = memory.iter().filter(|&&p| self.is_tracked(p)).count();
            let share = inside as f64 / memory.len() as f64;
            self.share.set(event.step, event.layer, head, share);
        }
    }
}

observer!(Forgetting);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::fixtures::event;
    use crate::tests::TestBackend as B;
    use mss_core::{AttentionStats, MemoryObserver};

    #[test]
    fn the_first_chunk_is_tracked_by_default_and_sinks_do_not_count() {
        let mut probe = Forgetting::first_chunk();
        MemoryObserver::<B>::start(&mut probe, 20, 1);
        let none = AttentionStats::none();
        // A decremental first chunk of 6 tokens; sinks 0 and 1 are excluded.
        probe.on_memory(&event(0, 0, 0..6, &[&[]], &[&[0, 1, 3, 5]], &none));
        probe.on_memory(&event(
            1,
            0,
            6..10,
            &[&[0, 1, 3, 5]],
            &[&[0, 1, 5, 7, 8, 9]],
            &none,
        ));
        probe.on_memory(&event(
            2,
            0,
            10..14,
            &[&[0, 1, 5, 7, 8, 9]],
            &[&[0, 1, 9, 11, 12, 13]],
            &none,
        ));
        assert_eq!(probe.tracked(), std::slice::from_ref(&(0..6)));
        assert_eq!(probe.share().get(0, 0, 0), Some(1.0));
        assert_eq!(probe.share().get(1, 0, 0), Some(0.25));
        assert_eq!(probe.share().get(2, 0, 0), Some(0.0));
        assert_eq!(
            probe.report().by_step,
            vec![Some(1.0), Some(0.25), Some(0.0)]
        );
    }

    #[test]
    fn given_ranges_are_tracked_from_the_start() {
        let mut probe = Forgetting::tracking(vec![6..8, 12..14]);
        MemoryObserver::<B>::start(&mut probe, 20, 1);
        let none = AttentionStats::none();
        probe.on_memory(&event(0, 0, 0..6, &[&[]], &[&[0, 1, 3, 5]], &none));
        probe.on_memory(&event(
            2,
            0,
            10..14,
            &[&[0, 1, 5, 7]],
            &[&[0, 1, 7, 11, 12, 13]],
            &none,
        ));
        assert_eq!(probe.share().get(0, 0, 0), Some(0.0));
        assert_eq!(probe.share().get(2, 0, 0), Some(0.75));
        assert_eq!(probe.tracked(), &[6..8, 12..14]);
    }
}
