//! Memory composition: where the kept entries come from.

use std::collections::BTreeSet;
use std::ops::Range;

use crate::event::observer;
use crate::{CompositionReport, HostEvent, Probe};

/// Counts the kept memory entries (sinks excluded) by source chunk, per step, layer and KV
/// head, plus the memory usage and the unique positions held across all layers and heads
/// (the seed's `report_memory_state()` histogram).
///
/// Source chunks are the chunks as prefilled (the steps' token ranges, decremental ones
/// included), learnt from the events.
#[derive(Debug, Clone, Default)]
pub struct Composition {
    /// The token range of each step's chunk.
    chunks: Vec<Range<usize>>,
    /// `counts[step][layer][head][source chunk]`.
    counts: Vec<Vec<Vec<Vec<usize>>>>,
    /// Unique positions per step over all layers and heads.
    unique: Vec<BTreeSet<i64>>,
    /// Sinks kept (the most seen).
    sinks: usize,
}

impl Composition {
    /// A probe with nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// The chunks seen so far.
    pub fn chunks(&self) -> &[Range<usize>] {
        &self.chunks
    }

    /// Entries of `(step, layer, head)` by source chunk (empty if not recorded).
    pub fn counts(&self, step: usize, layer: usize, head: usize) -> &[usize] {
        self.counts
            .get(step)
            .and_then(|l| l.get(layer))
            .and_then(|h| h.get(head))
            .map_or(&[], Vec::as_slice)
    }

    /// The source chunk of a document position.
    fn source(&self, position: i64) -> usize {
        let p = position.max(0) as usize;
        self.chunks
            .partition_point(|c| c.start <= p)
            .saturating_sub(1)
    }

    /// The report of what was recorded.
    pub fn report(&self) -> CompositionReport {
        let n_chunks = self.chunks.len();
        let pad = |mut v: Vec<usize>| {
            v.resize(n_chunks.max(v.len()), 0);
            v
        };
        let by_step_layer: Vec<Vec<Vec<usize>>> = self
            .counts
            .iter()
            .map(|layers| {
                layers
                    .iter()
                    .map(|heads| {
                        pad(heads.iter().fold(Vec::new(), |mut acc, h| {
                            if acc.len() < h.len() {
                                acc.resize(h.len(), 0);
                            }
                            acc.iter_mut().zip(h).for_each(|(a, c)| *a += c);
                            acc
                        }))
                    })
                    .collect()
            })
            .collect();
        let memory = self
            .counts
            .iter()
            .map(|layers| {
                layers
                    .iter()
                    .map(|heads| heads.iter().map(|h| h.iter().sum()).max().unwrap_or(0))
                    .collect()
            })
            .collect();
        let unique_by_chunk = self
            .unique
            .iter()
            .map(|set| {
                let mut hist = vec![0; n_chunks];
                for &p in set {
                    let c = self.source(p);
                    if c < hist.len() {
                        hist[c] += 1;
                    }
                }
                hist
            })
            .collect();
        CompositionReport {
            chunks: self.chunks.clone(),
            sinks: self.sinks,
            memory,
            unique: self.unique.iter().map(BTreeSet::len).collect(),
            unique_by_chunk,
            by_step_layer,
            counts: self.counts.clone(),
        }
    }
}

impl Probe for Composition {
    fn start(&mut self, _prompt_len: usize, _n_layers: usize) {
        *self = Self::default();
    }

    fn record(&mut self, event: &HostEvent) {
        let step = event.step;
        if self.chunks.len() <= step {
            self.chunks.resize(step + 1, 0..0);
        }
        self.chunks[step] = event.chunk.clone();
        if self.counts.len() <= step {
            self.counts.resize(step + 1, Vec::new());
            self.unique.resize(step + 1, BTreeSet::new());
        }
        let layers = &mut self.counts[step];
        if layers.len() <= event.layer {
            layers.resize(event.layer + 1, Vec::new());
        }
        let heads: Vec<Vec<usize>> = (0..event.n_kv_heads())
            .map(|head| {
                let mut hist = vec![0; step + 1];
                for &p in event.new_memory(head) {
                    let c = self.source(p);
                    if c < hist.len() {
                        hist[c] += 1;
                    }
                    self.unique[step].insert(p);
                }
                self.sinks = self
                    .sinks
                    .max(event.after[head].len() - event.new_memory(head).len());
                hist
            })
            .collect();
        self.counts[step][event.layer] = heads;
    }
}

observer!(Composition);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::fixtures::event;
    use crate::tests::TestBackend as B;
    use mss_core::{AttentionStats, MemoryObserver};

    #[test]
    fn entries_are_counted_by_source_chunk_and_unique_positions_across_layers() {
        let mut probe = Composition::new();
        MemoryObserver::<B>::start(&mut probe, 14, 2);
        let none = AttentionStats::none();
        probe.on_memory(&event(0, 0, 0..6, &[&[]], &[&[0, 1, 4, 5]], &none));
        probe.on_memory(&event(0, 1, 0..6, &[&[]], &[&[0, 1, 2, 3]], &none));
        probe.on_memory(&event(
            1,
            0,
            6..10,
            &[&[0, 1, 4, 5]],
            &[&[0, 1, 5, 7, 9]],
            &none,
        ));
        probe.on_memory(&event(
            1,
            1,
            6..10,
            &[&[0, 1, 2, 3]],
            &[&[0, 1, 3, 8, 9]],
            &none,
        ));
        assert_eq!(probe.chunks(), &[0..6, 6..10]);
        assert_eq!(probe.counts(1, 0, 0), &[1, 2]);
        assert_eq!(probe.counts(1, 1, 0), &[1, 2]);
        let report = probe.report();
        assert_eq!(report.sinks, 2);
        assert_eq!(report.memory, vec![vec![2, 2], vec![3, 3]]);
        // Step 1: positions 3, 5, 7, 8, 9 (9 held by both layers once).
        assert_eq!(report.unique, vec![4, 5]);
        assert_eq!(report.unique_by_chunk[1], vec![2, 3]);
        assert_eq!(report.by_step_layer[0][0], vec![2, 0]);
        assert_eq!(report.by_step_layer[1][1], vec![1, 2]);
        assert_eq!(report.final_shares()[0], vec![1.0 / 3.0, 2.0 / 3.0]);
    }
}
