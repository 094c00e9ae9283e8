//! Memory retention: how much of the memory survives a step.

use std::collections::HashSet;

use crate::event::observer;
use crate::{HeadTable, HostEvent, Probe, RetentionReport};

/// The memory retention ratio per step, layer and KV head, sinks excluded.
///
/// - **retention** (the paper's ratio, `algorithm.md` §4.1): the share of the new memory that
///   was already in the old memory, `|old ∩ new| / |new|`;
/// - **survival**: the share of the old memory that is still in the new memory,
///   `|old ∩ new| / |old|`.
///
/// Under FM (`|old| = |new| = M`) the two agree. They differ when the memory grows: with
/// `no_compress` survival is 1 while retention is `|old| / (|old| + C)`; under IM retention is
/// at most `m_old / m_new`. Steps without an old memory (step 0) or without a new one have no
/// value. Membership is by document position, so the measure is exact under decremental
/// chunks too.
#[derive(Debug, Clone, Default)]
pub struct Retention {
    retention: HeadTable,
    survival: HeadTable,
}

impl Retention {
    /// A probe with nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Share of the new memory that was already in the old memory.
    pub fn retention(&self) -> &HeadTable {
        &self.retention
    }

    /// Share of the old memory that is still in the new memory.
    pub fn survival(&self) -> &HeadTable {
        &self.survival
    }

    /// The report of what was recorded.
    pub fn report(&self) -> RetentionReport {
        RetentionReport {
            by_step: self.retention.by_step(),
            by_layer: self.retention.by_layer(),
            by_step_layer: self.retention.by_step_layer(),
            mean: self.retention.mean(),
            survival_by_step: self.survival.by_step(),
            retention: self.retention.clone(),
            survival: self.survival.clone(),
        }
    }
}

impl Probe for Retention {
    fn start(&mut self, _prompt_len: usize, _n_layers: usize) {
        *self = Self::default();
    }

    fn record(&mut self, event: &HostEvent) {
        for head in 0..event.n_kv_heads() {
            let old = event.old_memory(head);
            let new = event.new_memory(head);
            if old.is_empty() || new.is_empty() {
                continue;
            }
            let old_set: HashSet<i64> = old.iter().copied().collect();
            let kept = new.iter().filter(|p| old_set.contains(p)).count() as f64;
            let (step, layer) = (event.step, event.layer);
            self.retention
                .set(step, layer, head, kept / new.len() as f64);
            self.survival
                .set(step, layer, head, kept / old.len() as f64);
        }
    }
}

observer!(Retention);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::fixtures::event;
    use crate::tests::TestBackend as B;
    use mss_core::{AttentionStats, MemoryObserver};

    #[test]
    fn retention_and_survival_count_document_positions_without_sinks() {
        let mut probe = Retention::new();
        MemoryObserver::<B>::start(&mut probe, 16, 2);
        let none = AttentionStats::none();
        // Step 0: no old memory, no value.
        probe.on_memory(&event(0, 0, 0..6, &[&[]], &[&[0, 1, 4, 5]], &none));
        // Step 1, layer 0: old [4, 5], new [5, 7, 8, 9]: one of four was old, one of two kept.
        probe.on_memory(&event(
            1,
            0,
            6..10,
            &[&[0, 1, 4, 5]],
            &[&[0, 1, 5, 7, 8, 9]],
            &none,
        ));
        // Layer 1 (FM): old [2, 3, 4], new [3, 4, 8]: the two ratios agree.
        probe.on_memory(&event(
            1,
            1,
            6..10,
            &[&[0, 1, 2, 3, 4]],
            &[&[0, 1, 3, 4, 8]],
            &none,
        ));
        assert_eq!(probe.retention().get(0, 0, 0), None);
        assert_eq!(probe.retention().get(1, 0, 0), Some(0.25));
        assert_eq!(probe.survival().get(1, 0, 0), Some(0.5));
        assert_eq!(probe.retention().get(1, 1, 0), Some(2.0 / 3.0));
        assert_eq!(probe.survival().get(1, 1, 0), Some(2.0 / 3.0));
        let report = probe.report();
        assert_eq!(report.by_step[0], None);
        assert!((report.by_step[1].unwrap() - (0.25 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        // A new prefill forgets everything.
        MemoryObserver::<B>::start(&mut probe, 16, 2);
        assert!(probe.retention().is_empty());
    }

    #[test]
    fn heads_are_measured_apart() {
        let mut probe = Retention::new();
        let none = AttentionStats::none();
        probe.on_memory(&event(
            2,
            0,
            8..12,
            &[&[0, 1, 4, 5], &[0, 1, 6, 7]],
            &[&[0, 1, 4, 5], &[0, 1, 10, 11]],
            &none,
        ));
        assert_eq!(probe.retention().get(2, 0, 0), Some(1.0));
        assert_eq!(probe.retention().get(2, 0, 1), Some(0.0));
    }
}
