//! What a pruner asks of the attention pass, and what it gets back.

use burn::prelude::*;

/// The attention statistics a pruner needs. Each field asks for one reduction of the chunk's
/// attention probabilities; all-false lets the model use a fused kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttentionNeeds {
    /// The probabilities of the chunk's last query (TOVA).
    pub last_query: bool,
    /// Column sums over the chunk's queries and the number of queries that see each key
    /// (H2O, mean attention, SnapKV).
    pub column_sums: bool,
    /// Column sums of squared probabilities (RoCo's standard deviation).
    pub second_moments: bool,
}

impl AttentionNeeds {
    /// Nothing: the fused kernel suffices.
    pub const NONE: Self = Self {
        last_query: false,
        column_sums: false,
        second_moments: false,
    };

    /// Whether nothing is needed.
    pub fn is_empty(&self) -> bool {
        *self == Self::NONE
    }

    /// Everything either side needs.
    pub fn union(self, other: Self) -> Self {
        Self {
            last_query: self.last_query || other.last_query,
            column_sums: self.column_sums || other.column_sums,
            second_moments: self.second_moments || other.second_moments,
        }
    }
}

/// Reductions of the chunk's attention probabilities over the keys `[memory; chunk]`, per KV
/// head. Probabilities of the query heads that share a KV head (GQA: query head `i` reads KV head
/// `i / n_rep`) are summed. Each field is `Some` exactly when [`AttentionNeeds`] asked for it.
/// All are f32.
///
/// # Shapes
/// Every tensor is `[n_kv_heads, keys]`.
#[derive(Debug, Clone)]
pub struct AttentionStats<B: Backend> {
    /// Probabilities of the chunk's last query.
    pub last_query: Option<Tensor<B, 2>>,
    /// Sum of probabilities over the chunk's queries.
    pub column_sums: Option<Tensor<B, 2>>,
    /// Number of the chunk's queries that see each key (memory keys: every query; the chunk key
    /// at local index `t`: `chunk_len - t`, fewer under a sliding window).
    pub visible_queries: Option<Tensor<B, 2>>,
    /// Sum of squared probabilities over the chunk's queries.
    pub second_moments: Option<Tensor<B, 2>>,
}

impl<B: Backend> AttentionStats<B> {
    /// No statistics.
    pub fn none() -> Self {
        Self {
            last_query: None,
            column_sums: None,
            visible_queries: None,
            second_moments: None,
        }
    }

    /// The statistics of the keys `start..start + len` only.
    pub fn narrow(&self, start: usize, len: usize) -> Self {
        let cut = |t: &Option<Tensor<B, 2>>| t.clone().map(|t| t.narrow(1, start, len));
        Self {
            last_query: cut(&self.last_query),
            column_sums: cut(&self.column_sums),
            visible_queries: cut(&self.visible_queries),
            second_moments: cut(&self.second_moments),
        }
    }
}
