//! The hook of one prefill step: it feeds each layer its memory and prunes `[memory; chunk]`
//! back into memory as soon as the layer is done, so no layer's full cache outlives its layer.

use std::ops::Range;

use burn::prelude::*;
use mss_core::{
    AttentionNeeds, AttentionStats, ChunkHook, LayerKv, LayerMemory, MemoryEvent, MemoryObserver,
    PruneInput, Pruner,
};
use mss_schedule::{QueryBlocks, Retain};

use crate::Memory;

/// Per-layer running mean of the memory retention ratio: the share of the kept entries that
/// were already in memory.
///
/// Each layer's ratio stays on the device until [`means`](Self::means) reads the step's ratios
/// back together: one wait for the device per step rather than one per layer.
#[derive(Debug, Clone)]
pub(crate) struct Retention<B: Backend> {
    sum: Vec<f64>,
    count: Vec<usize>,
    pending: Vec<(usize, Tensor<B, 1>)>,
}

impl<B: Backend> Retention<B> {
    pub(crate) fn new(n_layers: usize) -> Self {
        Self {
            sum: vec![0.0; n_layers],
            count: vec![0; n_layers],
            pending: Vec::new(),
        }
    }

    /// Records `ratio`, a one-element tensor, for `layer`.
    fn add(&mut self, layer: usize, ratio: Tensor<B, 1>) {
        self.pending.push((layer, ratio));
    }

    /// Running means per layer (0 where nothing was measured yet).
    pub(crate) fn means(&mut self) -> Vec<f64> {
        if !self.pending.is_empty() {
            let (layers, ratios): (Vec<usize>, Vec<Tensor<B, 1>>) = self.pending.drain(..).unzip();
            let ratios = Tensor::cat(ratios, 0)
                .into_data()
                .convert::<f64>()
                .to_vec::<f64>()
                .expect("f64 ratios");
            for (layer, ratio) in layers.into_iter().zip(ratios) {
                self.sum[layer] += ratio;
                self.count[layer] += 1;
            }
        }
        self.sum
            .iter()
            .zip(&self.count)
            .map(|(s, &c)| if c == 0 { 0.0 } else { s / c as f64 })
            .collect()
    }
}

/// What one step asks of every layer.
pub(crate) struct StepHook<'a, 'o, B: Backend> {
    /// Query heads of the model (sizes the statistics' query blocks).
    pub n_heads: usize,
    pub query_blocks: QueryBlocks,
    pub memory: &'a mut Memory<B>,
    pub pruner: &'a mut dyn Pruner<B>,
    pub needs: AttentionNeeds,
    /// The prompt's first tokens kept ahead of the memory (0 when the schedule keeps nothing).
    pub sinks: usize,
    /// What each layer keeps after this step.
    pub rules: Vec<Retain>,
    pub step: usize,
    /// Measured only when a schedule needs it (`adaptive`).
    pub retention: Option<&'a mut Retention<B>>,
    /// The chunk's tokens in the prompt.
    pub chunk: Range<usize>,
    /// Told about every memory rewrite, when present.
    pub observer: Option<&'a mut (dyn MemoryObserver<B> + 'o)>,
    /// A positional pruner's last choice ([`Pruner::positional`]), the kept candidates'
    /// indices (`[heads, budget]`), with the `(heads, entries a head, start, budget)` it was
    /// made for. Every layer of a step has the same shape under most schedules, so the pruner
    /// is asked once a step: on a GPU each tensor built costs the host as much as a kernel.
    pub positional_choice: Option<(PruneShape, Tensor<B, 2, Int>)>,
}

/// What a positional pruner's choice depends on: `(heads, entries a head, start, budget)`.
pub(crate) type PruneShape = (usize, usize, usize, usize);

impl<B: Backend> ChunkHook<B> for StepHook<'_, '_, B> {
    fn memory(&mut self, layer: usize) -> Option<LayerMemory<B>> {
        self.memory.view(layer)
    }

    fn needs(&self, _layer: usize) -> AttentionNeeds {
        self.needs
    }

    fn query_block(&self, _layer: usize, keys: usize) -> usize {
        self.query_blocks.rows(self.n_heads, self.chunk.len(), keys)
    }

    fn record(&mut self, layer: usize, entries: LayerKv<B>, stats: AttentionStats<B>) {
        let heads = entries.n_kv_heads();
        let before = self
            .observer
            .is_some()
            .then(|| positions(self.memory.layer(layer)));
        // `entries` holds a copy of the old memory: let the old one go before pruning.
        let old_len = self.memory.take(layer).as_ref().map_or(0, LayerKv::len);
        // Memory stays in document order, so the first entries are the prompt's first tokens.
        let sinks = self.sinks.min(entries.len());
        let kept = match self.rules[layer] {
            Retain::Everything => Some(entries),
            Retain::Nothing => None,
            Retain::Reselect { budget } => {
                let from_memory = old_len.saturating_sub(sinks);
                self.prune(layer, entries, sinks, from_memory, budget, &stats)
            }
            // The old memory is frozen: only the chunk's entries are candidates.
            Retain::Append { slice } => {
                self.prune(layer, entries, sinks.max(old_len), 0, slice, &stats)
            }
        };
        self.memory.set(layer, kept);
        if let (Some(observer), Some(before)) = (self.observer.as_deref_mut(), before) {
            let event = MemoryEvent {
                step: self.step,
                layer,
                chunk: self.chunk.clone(),
                sinks: self.sinks.min(self.chunk.end),
                n_kv_heads: heads,
                before,
                after: positions(self.memory.layer(layer)),
                stats: &stats,
            };
            observer.on_memory(&event);
        }
    }
}

impl<B: Backend> StepHook<'_, '_, B> {
    /// `full` = `[head; candidates]` pruned to `[head; budget of the candidates]`, where the
    /// head is the first `start` entries (sinks, and under FI the frozen memory) and the
    /// candidates' first `from_memory` come from the old memory; `None` when nothing is kept.
    /// Empty parts are never built: CUDA refuses to launch the kernels of zero-size tensors.
    fn prune(
        &mut self,
        layer: usize,
        full: LayerKv<B>,
        start: usize,
        from_memory: usize,
        budget: usize,
        stats: &AttentionStats<B>,
    ) -> Option<LayerKv<B>> {
        let candidates = full.len() - start;
        if candidates == 0 {
            return Some(full);
        }
        let budget = budget.min(candidates);
        if budget == 0 {
            return (start > 0).then(|| full.narrow(0, start));
        }
        let shape = (full.n_kv_heads(), full.len(), start, budget);
        let kept = match &self.positional_choice {
            Some((made_for, kept)) if *made_for == shape => kept.clone(),
            _ => {
                let input =
                    PruneInput::new(layer, self.step, &full, stats, start, from_memory, budget)
                        .expect("the candidates follow the head");
                let kept = self.pruner.prune(input);
                if self.pruner.positional() {
                    self.positional_choice = Some((shape, kept.clone()));
                }
                kept
            }
        };
        if let Some(retention) = self.retention.as_deref_mut()
            && from_memory > 0
        {
            let ratio = kept.clone().lower_elem(from_memory as i64).float().mean();
            retention.add(layer, ratio);
        }
        Some(full.keep(start, kept))
    }
}

/// The document positions of a layer's memory, `None` when it has none.
fn positions<B: Backend>(memory: Option<&LayerKv<B>>) -> Option<Tensor<B, 2, Int>> {
    memory
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.positions.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DefaultBackend as B;

    fn ratio(value: f32) -> Tensor<B, 1> {
        Tensor::from_data([value], &Default::default())
    }

    #[test]
    fn retention_means_are_running_means_per_layer() {
        let mut retention = Retention::<B>::new(3);
        assert_eq!(retention.means(), [0.0; 3], "nothing measured yet");
        retention.add(0, ratio(0.5));
        retention.add(1, ratio(1.0));
        retention.add(0, ratio(0.25));
        assert_eq!(retention.means(), [0.375, 1.0, 0.0]);
        // Read-back ratios are not counted twice; later ones join the running means.
        assert_eq!(retention.means(), [0.375, 1.0, 0.0]);
        retention.add(1, ratio(0.0));
        assert_eq!(retention.means(), [0.375, 0.5, 0.0]);
    }
}
