//! H2O: heavy hitters, accumulated over steps.
//!
//! Zhang et al., *H2O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language
//! Models*, NeurIPS 2023, <https://arxiv.org/abs/2306.14048>. As the seed's `H2oPruner`
//! (`algorithm.md` §3.3): a candidate's score is the attention it received from this chunk's
//! queries (un-normalised column sum) plus, for an entry kept from earlier steps, the score it
//! had accumulated then.

use burn::prelude::*;
use mss_core::{AttentionNeeds, PruneInput, ScoredPruner, Scorer};

use crate::TopK;
use crate::stats::required;

/// Cumulative attention per memory entry and layer.
#[derive(Debug, Clone, Default)]
pub struct Accumulated<B: Backend> {
    /// Per layer: the accumulated score of each memory entry (sinks excluded), `[n_kv_heads, m]`.
    memory: Vec<Option<Tensor<B, 2>>>,
    /// Per layer: this step's candidate scores, kept until `retain`.
    pending: Vec<Option<Tensor<B, 2>>>,
}

impl<B: Backend> Accumulated<B> {
    fn slot(v: &mut Vec<Option<Tensor<B, 2>>>, layer: usize) -> &mut Option<Tensor<B, 2>> {
        if v.len() <= layer {
            v.resize(layer + 1, None);
        }
        &mut v[layer]
    }
}

impl<B: Backend> Scorer<B> for Accumulated<B> {
    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds {
            column_sums: true,
            ..AttentionNeeds::NONE
        }
    }

    fn score(&mut self, input: &PruneInput<'_, B>) -> Tensor<B, 2> {
        let sums = required(&input.stats().column_sums, "h2o", "column sums");
        let prior = Self::slot(&mut self.memory, input.layer)
            .take()
            .filter(|acc| input.from_memory > 0 && acc.dims()[1] == input.from_memory);
        let scores = match prior {
            Some(acc) => {
                let [heads, len] = sums.dims();
                let fresh = Tensor::zeros([heads, len - input.from_memory], &sums.device());
                sums.add(Tensor::cat(vec![acc, fresh], 1))
            }
            None => sums,
        };
        *Self::slot(&mut self.pending, input.layer) = Some(scores.clone());
        scores
    }

    fn retain(&mut self, input: &PruneInput<'_, B>, kept: &Tensor<B, 2, Int>) {
        let scores = Self::slot(&mut self.pending, input.layer).take();
        *Self::slot(&mut self.memory, input.layer) = scores.map(|s| s.gather(1, kept.clone()));
    }

    fn reset(&mut self) {
        self.memory.clear();
        self.pending.clear();
    }
}

/// The H2O pruner.
pub fn h2o<B: Backend>() -> ScoredPruner<Accumulated<B>, TopK> {
    ScoredPruner::new("h2o", Accumulated::default(), TopK)
}
