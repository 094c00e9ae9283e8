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
    /// Probabilities are computed for statistics, a block of queries at a time: a block of
    /// `[n_heads, rows, keys]` f32 is held at once.
    Statistics {
        /// How many queries a block holds.
        blocks: QueryBlocks,
    },
}

/// How the attention that computes statistics cuts a chunk's queries into blocks: as many
/// rows as keep the f32 probabilities `[n_heads, rows, keys]` within `max_elements`, never
/// fewer than `min_rows`, never more than the chunk.
///
/// Fewer, larger blocks mean fewer kernels (a GPU's prefill time is mostly their launches);
/// smaller blocks bound memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryBlocks {
    /// Rows of a block however many keys there are.
    pub min_rows: usize,
    /// Probabilities a block may hold when it has more than `min_rows` rows.
    pub max_elements: usize,
}

impl QueryBlocks {
    /// 256 rows at least, up to 2²⁵ probabilities (128 MiB of f32) per block.
    pub const DEFAULT: Self = Self {
        min_rows: 256,
        max_elements: 1 << 25,
    };

    /// Always `rows` queries per block.
    pub fn fixed(rows: usize) -> Self {
        Self {
            min_rows: rows,
            max_elements: 0,
        }
    }

    /// Queries per block for a chunk of `chunk_len` queries over `keys` keys (at least 1).
    pub fn rows(&self, n_heads: usize, chunk_len: usize, keys: usize) -> usize {
        (self.max_elements / n_heads.saturating_mul(keys).max(1))
            .max(self.min_rows)
            .min(chunk_len)
            .max(1)
    }
}

impl Default for QueryBlocks {
    fn default() -> Self {
        Self::DEFAULT
    }
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

/// How much of the layers' `[memory; chunk]` entries a forward pass holds at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKv {
    /// Every layer's `[memory; chunk]` may be live at once (an upper bound whatever the
    /// implementation does).
    AllLayers,
    /// Every layer's memory, plus the `[memory; chunk]` of the one layer being run, for which
    /// the pass holds `bytes_per_entry` bytes per entry beyond its memory (the entries handed to
    /// the hook, rotated keys, copies).
    OneLayer {
        /// Working bytes per entry of the running layer.
        bytes_per_entry: usize,
    },
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
    /// How many layers' `[memory; chunk]` are live at once.
    pub layer_kv: LayerKv,
    /// Activation bytes per chunk token when the model states them; otherwise
    /// `activation_factor` hidden-sized vectors.
    pub activation_bytes_per_token: Option<usize>,
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
            layer_kv: LayerKv::AllLayers,
            activation_bytes_per_token: None,
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

    /// Sets the activation bytes per chunk token (replacing the activation factor's estimate).
    pub fn with_activation_bytes_per_token(mut self, bytes: usize) -> Self {
        self.activation_bytes_per_token = Some(bytes);
        self
    }

    /// Sets how many layers' `[memory; chunk]` are live at once.
    pub fn with_layer_kv(mut self, layer_kv: LayerKv) -> Self {
        self.layer_kv = layer_kv;
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
        if let AttentionMode::Statistics { blocks } = self.attention {
            sizes.push(("query block", blocks.min_rows));
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
        let block = CostModel::new(dims(), 2).with_attention(AttentionMode::Statistics {
            blocks: QueryBlocks::fixed(0),
        });
        assert_eq!(
            block.validate(),
            Err(ScheduleError::Zero {
                what: "query block"
            })
        );
        assert!(CostModel::new(dims(), 0).validate().is_err());
    }

    #[test]
    fn query_blocks_fill_the_element_budget_between_their_bounds() {
        let blocks = QueryBlocks {
            min_rows: 4,
            max_elements: 1000,
        };
        // 2 heads × 50 keys: 10 rows fit; a chunk of 6 caps them; 2 × 500 keys: 1 row fits,
        // the minimum raises it to 4.
        assert_eq!(blocks.rows(2, 64, 50), 10);
        assert_eq!(blocks.rows(2, 6, 50), 6);
        assert_eq!(blocks.rows(2, 64, 500), 4);
        assert_eq!(QueryBlocks::fixed(3).rows(9, 100, 10), 3);
        assert_eq!(QueryBlocks::fixed(0).rows(9, 100, 10), 1);
        // The default: SmolLM2 (9 heads) at C = 1024 over 2052 keys is one block.
        assert_eq!(QueryBlocks::DEFAULT.rows(9, 1024, 2052), 1024);
        assert_eq!(QueryBlocks::DEFAULT.rows(9, 8192, 16388), 256);
    }
}
