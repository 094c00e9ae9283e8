//! Attention to memory: how much the chunk's queries use the memory they are given.

use mss_core::AttentionNeeds;

use crate::event::observer;
use crate::{AttentionReport, HeadTable, HostEvent, Probe};

/// How the chunk's queries attend to the memory entries (sinks excluded), per step, layer and
/// KV head, from the column sums over `[memory; chunk]` (`algorithm.md` §4.1, `MemoryUsage`).
///
/// With `g` query heads per KV head (recovered exactly from the sums: every query row of every
/// query head sums to 1, so the column sums add up to `g · chunk_len`), the mean attention of
/// memory entry `j` is `a_j = column_sum_j / (g · visible_j)`: its probability averaged over the
/// chunk's queries and the KV head's query heads. Recorded:
///
/// - **mean**: the mean of `a_j` over the memory entries (the paper's "mean attn score");
/// - **above mean**: the share of memory entries with `a_j` above the mean probability of the
///   whole attention pattern, `τ = Σ column_sums / (g · Σ visible)`: the mean over every
///   (query, visible key) cell, i.e. the attention each key would get if every query spread
///   its attention evenly over what it sees. It is the original's "global mean of the attention
///   matrix" without the padded rows and masked cells that biased it (`algorithm.md` §7 item
///   12), and, unlike a mean over memory only, it does not move when the memory as a whole
///   gains or loses attention, so "above" means "more than a fair share";
/// - **mass**: the share of all attention that goes to memory entries;
/// - **sink mass**: the share that goes to the sinks.
///
/// Nothing is recorded at steps without memory (step 0).
#[derive(Debug, Clone, Default)]
pub struct MemoryAttention {
    mean: HeadTable,
    above_mean: HeadTable,
    mass: HeadTable,
    sink_mass: HeadTable,
}

impl MemoryAttention {
    /// A probe with nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mean attention per memory entry.
    pub fn mean(&self) -> &HeadTable {
        &self.mean
    }

    /// Share of memory entries above the pattern's mean probability.
    pub fn above_mean(&self) -> &HeadTable {
        &self.above_mean
    }

    /// Share of the attention that goes to memory entries.
    pub fn mass(&self) -> &HeadTable {
        &self.mass
    }

    /// Share of the attention that goes to the sinks.
    pub fn sink_mass(&self) -> &HeadTable {
        &self.sink_mass
    }

    /// The report of what was recorded.
    pub fn report(&self) -> AttentionReport {
        AttentionReport {
            mean_by_step: self.mean.by_step(),
            above_mean_by_step: self.above_mean.by_step(),
            mass_by_step: self.mass.by_step(),
            sink_mass_by_step: self.sink_mass.by_step(),
            mean_by_layer: self.mean.by_layer(),
            mean: self.mean.clone(),
            above_mean: self.above_mean.clone(),
            mass: self.mass.clone(),
            sink_mass: self.sink_mass.clone(),
        }
    }
}

impl Probe for MemoryAttention {
    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds {
            column_sums: true,
            ..AttentionNeeds::NONE
        }
    }

    fn start(&mut self, _prompt_len: usize, _n_layers: usize) {
        *self = Self::default();
    }

    fn record(&mut self, event: &HostEvent) {
        let (Some(sums), Some(visible)) = (&event.column_sums, &event.visible_queries) else {
            return;
        };
        let queries = event.chunk.len() as f64;
        for head in 0..event.n_kv_heads() {
            let memory_len = event.before[head].len();
            let sinks = event.old_sinks(head);
            if memory_len == sinks || queries == 0.0 {
                continue;
            }
            let sums = &sums[head];
            let visible = &visible[head];
            let total: f64 = sums.iter().map(|&s| s as f64).sum();
            let cells: f64 = visible.iter().map(|&v| v as f64).sum();
            if total <= 0.0 || cells <= 0.0 {
                continue;
            }
            let group = (total / queries).round().max(1.0);
            let threshold = total / (group * cells);
            let entries: Vec<f64> = (sinks..memory_len)
                .map(|j| sums[j] as f64 / (group * visible[j].max(1.0) as f64))
                .collect();
            let n = entries.len() as f64;
            let above = entries.iter().filter(|&&a| a > threshold).count() as f64;
            let memory_mass: f64 = sums[sinks..memory_len].iter().map(|&s| s as f64).sum();
            let sink_mass: f64 = sums[..sinks].iter().map(|&s| s as f64).sum();
            let (step, layer) = (event.step, event.layer);
            self.mean
                .set(step, layer, head, entries.iter().sum::<f64>() / n);
            self.above_mean.set(step, layer, head, above / n);
            self.mass.set(step, layer, head, memory_mass / total);
            self.sink_mass.set(step, layer, head, sink_mass / total);
        }
    }
}

observer!(MemoryAttention);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::fixtures::{event, stats};
    use crate::tests::TestBackend as B;
    use mss_core::MemoryObserver;

    #[test]
    fn memory_attention_follows_the_column_sums() {
        let mut probe = MemoryAttention::new();
        assert!(MemoryObserver::<B>::needs(&probe).column_sums);
        // Two query heads per KV head, a chunk of 2 queries: the sums add up to 4.
        // Keys: sinks 0, 1; memory 5, 6, 7; chunk 8, 9 (visible to 2 and 1 queries).
        let s = stats(
            &[&[1.0, 0.2, 0.9, 0.1, 0.2, 1.0, 0.6]],
            &[&[2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0]],
        );
        probe.on_memory(&event(
            1,
            0,
            8..10,
            &[&[0, 1, 5, 6, 7]],
            &[&[0, 1, 6, 8, 9]],
            &s,
        ));
        // a_j = sum / (2 * 2): 0.225, 0.025, 0.05; tau = 4 / (2 * 13) = 0.1538.
        let mean = probe.mean().get(1, 0, 0).unwrap();
        assert!((mean - 0.3 / 3.0).abs() < 1e-6, "{mean}");
        assert_eq!(probe.above_mean().get(1, 0, 0), Some(1.0 / 3.0));
        let mass = probe.mass().get(1, 0, 0).unwrap();
        assert!((mass - 1.2 / 4.0).abs() < 1e-6, "{mass}");
        let sink = probe.sink_mass().get(1, 0, 0).unwrap();
        assert!((sink - 1.2 / 4.0).abs() < 1e-6, "{sink}");
    }

    #[test]
    fn steps_without_memory_or_statistics_record_nothing() {
        let mut probe = MemoryAttention::new();
        let s = stats(&[&[1.0, 1.0]], &[&[2.0, 1.0]]);
        probe.on_memory(&event(0, 0, 0..2, &[&[]], &[&[0, 1]], &s));
        // Sinks only: no memory entry to measure.
        let s = stats(&[&[1.0, 0.5, 0.5]], &[&[1.0, 1.0, 1.0]]);
        probe.on_memory(&event(1, 0, 2..3, &[&[0, 1]], &[&[0, 1, 2]], &s));
        let none = mss_core::AttentionStats::none();
        probe.on_memory(&event(2, 0, 3..4, &[&[0, 1, 2]], &[&[0, 1, 3]], &none));
        assert!(probe.mean().is_empty());
    }
}
