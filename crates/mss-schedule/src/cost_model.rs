//! [`CostModel`]: the model dimensions and run settings that set a prefill's working set.

use crate::{Result, ScheduleError};

/// Bytes of one attention probability or logit: both are f32.
pub const F32_BYTES: usize = 4;

/// Default number of hidden-sized activations live per chunk token: the residual, the
/// normalized input, q, k and v (at most 3 hidden), the attention output, and the SwiGLU
/// MLP's gate, up and product (each about 2.7 hidden) overlap to roughly 8.
pub const DEFAULT_ACTIVATION_FACTOR: usize = 8;

/// The dimensions of a decoder that matter to its working set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelDims {
    /// Decoder layers.
    pub n_layers: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
    /// Dimension of one head.
    pub head_dim: usize,
    /// Hidden (residual stream) size.
    pub hidden_size: usize,
    /// Vocabulary size (only read when logits are counted).
    pub vocab_size: usize,
}

/// How attention runs, which sets its scratch memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionMode {
    /// The fused kernel: no probability matrix is held (its scratch is counted as 0).
    Fused,
    /// Probabilities are computed for statistics, `query_block` queries at a time: a block of
    /// `[n_heads, query_block, keys]` f32 is held at once.
    Statistics {
        /// Queries per block.
        query_block: usize,
    },
}

/// Which logits a chunk step returns (f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogitRows {
    /// None are counted.
    None,
    /// The last token's row.
    Last,
    /// One row per chunk token (perplexity).
    All,
}

/// Everything the working-set prediction needs besides the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostModel {
    /// The model's dimensions.
    pub dims: ModelDims,
    /// Bytes per element of the KV cache and activations (2 for bf16/f16, 4 for f32).
    pub bytes_per_element: usize,
    /// How attention runs.
    pub attention: AttentionMode,
    /// Hidden-sized activations live per chunk token.
    pub activation_factor: usize,
    /// Which logits are held.
    pub logits: LogitRows,
}

impl CostModel {
    /// Fused attention, [`DEFAULT_ACTIVATION_FACTOR`], no logits.
    pub fn new(dims: ModelDims, bytes_per_element: usize) -> Self {
        CostModel {
            dims,
            bytes_per_element,
            attention: AttentionMode::Fused,
            activation_factor: DEFAULT_ACTIVATION_FACTOR,
            logits: LogitRows::None,
        }
    }

    /// Sets how attention runs.
    pub fn with_attention(mut self, attention: AttentionMode) -> Self {
        self.attention = attention;
        self
    }

    /// Sets the activations live per chunk token, in hidden sizes.
    pub fn with_activation_factor(mut self, factor: usize) -> Self {
        self.activation_factor = factor;
        self
    }

    /// Sets which logits are held.
    pub fn with_logits(mut self, logits: LogitRows) -> Self {
        self.logits = logits;
        self
    }

    /// Checks that every size the prediction uses is positive.
    ///
    /// # Errors
    /// [`ScheduleError::Zero`] naming the size.
    pub fn validate(&self) -> Result<()> {
        let d = &self.dims;
        let mut sizes = vec![
            ("number of layers", d.n_layers),
            ("number of heads", d.n_heads),
            ("number of KV heads", d.n_kv_heads),
            ("head dimension", d.head_dim),
            ("hidden size", d.hidden_size),
            ("bytes per element", self.bytes_per_element),
        ];
        if let AttentionMode::Statistics { query_block } = self.attention {
            sizes.push(("query block", query_block));
        }
        if self.logits != LogitRows::None {
            sizes.push(("vocabulary size", d.vocab_size));
        }
        match sizes.into_iter().find(|&(_, v)| v == 0) {
            Some((what, _)) => Err(ScheduleError::Zero { what }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims() -> ModelDims {
        ModelDims {
            n_layers: 2,
            n_heads: 4,
            n_kv_heads: 2,
            head_dim: 8,
            hidden_size: 32,
            vocab_size: 0,
        }
    }

    #[test]
    fn validate_names_the_zero_size() {
        assert_eq!(CostModel::new(dims(), 2).validate(), Ok(()));
        let logits = CostModel::new(dims(), 2).with_logits(LogitRows::Last);
        assert_eq!(
            logits.validate(),
            Err(ScheduleError::Zero {
                what: "vocabulary size"
            })
        );
        let block =
            CostModel::new(dims(), 2).with_attention(AttentionMode::Statistics { query_block: 0 });
        assert_eq!(
            block.validate(),
            Err(ScheduleError::Zero {
                what: "query block"
            })
        );
        assert!(CostModel::new(dims(), 0).validate().is_err());
    }
}
