//! One attention layer's part in a chunked prefill, for any model: the memory joined in front of
//! the chunk, the keys rotated at this step's positions, and the hook told what was attended to.
//!
//! [`attend_layer`] is the whole of it for a model of your own: give it the layer's queries,
//! keys and values before RoPE and a function that rotates at given positions, and it asks the
//! hook for the memory and the statistics it needs, attends, and hands `[memory; chunk]` back.
//! [`join_memory`] is the first half alone, for a model with its own attention kernel.

use burn::prelude::*;

use crate::attention::attend;
use crate::{
    ChunkHook, ChunkPositions, CoreError, LayerKv, LayerMemory, Result, RopePositions,
    per_head_range,
};

/// `[memory; chunk]` of one layer and where every entry's key is rotated this step.
#[derive(Debug, Clone)]
pub struct Joined<B: Backend> {
    /// The memory's entries followed by the chunk's (keys before RoPE): what the hook receives.
    pub entries: LayerKv<B>,
    /// The RoPE position of every entry's key this step, per KV head (`memory_len +
    /// chunk_len` of them): a range when the memory's positions are compact.
    pub rope: RopePositions<B>,
    /// Entries that came from memory (the first ones).
    pub memory_len: usize,
    /// The RoPE position of the chunk's first token in this layer.
    pub chunk_rope_start: usize,
}

/// Joins the chunk's entries behind `memory` (an empty memory counts as none), after checking
/// that the memory has the chunk's heads and dimensions.
///
/// The chunk's RoPE positions start at the memory's [`LayerMemory::chunk_rope_start`], or at
/// `rope_start` (the step's [`ChunkPositions::rope_start`]) without memory.
///
/// # Shapes
/// - `chunk`: keys `[1, n_kv_heads, chunk_len, head_dim]`, values
///   `[1, n_kv_heads, chunk_len, value_dim]`, positions `[n_kv_heads, chunk_len]`
///
/// # Errors
/// [`CoreError::ShapeMismatch`] for a memory of other heads or dimensions than the chunk.
pub fn join_memory<B: Backend>(
    memory: Option<LayerMemory<B>>,
    chunk: LayerKv<B>,
    rope_start: usize,
) -> Result<Joined<B>> {
    let memory = memory.filter(|m| !m.kv.is_empty());
    let start = memory.as_ref().map_or(rope_start, |m| m.chunk_rope_start);
    let Some(memory) = memory else {
        return Ok(Joined {
            entries: chunk,
            rope: RopePositions::Range { start },
            memory_len: 0,
            chunk_rope_start: start,
        });
    };
    let [_, heads, len, head_dim] = chunk.keys.dims();
    memory.check_shape(heads, head_dim, chunk.values.dims()[3])?;
    let memory_len = memory.kv.len();
    let rope = match memory.continued_range() {
        // The chunk goes on where the memory's range ends: one range for all.
        Some(first) => RopePositions::Range { start: first },
        None => {
            let device = chunk.keys.device();
            RopePositions::At(Tensor::cat(
                vec![
                    memory.rope.tensor(heads, memory_len, &device),
                    per_head_range(start..start + len, heads, &device),
                ],
                1,
            ))
        }
    };
    Ok(Joined {
        entries: memory.kv.cat(chunk),
        rope,
        memory_len,
        chunk_rope_start: start,
    })
}

/// One layer's attention over its memory and chunk, with every hook call: the memory and the
/// statistics the hook asks for, scaled dot-product attention (causal within the chunk, every
/// memory entry visible), and `[memory; chunk]` with the statistics handed back to the hook.
///
/// `rotate(x, positions)` applies the model's RoPE to `x` `[1, heads, len, head_dim]` at
/// `positions` `[heads, len]`; it rotates the queries at the chunk's positions and every key at
/// its position of this step. Keys reach the hook unrotated, as a later step rotates them again.
///
/// # Shapes
/// - `queries`: `[1, n_heads, chunk_len, head_dim]`, before RoPE
/// - `keys`: `[1, n_kv_heads, chunk_len, head_dim]`, before RoPE
/// - `values`: `[1, n_kv_heads, chunk_len, value_dim]`
/// - returns `[1, n_heads, chunk_len, value_dim]`
///
/// # Errors
/// Those of [`join_memory`], and [`CoreError::ShapeMismatch`] for inconsistent keys and values,
/// or queries whose length, head width or head count (a multiple of the KV heads) does not fit
/// them.
pub fn attend_layer<B: Backend>(
    hook: &mut dyn ChunkHook<B>,
    layer: usize,
    positions: ChunkPositions,
    queries: Tensor<B, 4>,
    keys: Tensor<B, 4>,
    values: Tensor<B, 4>,
    rotate: impl Fn(Tensor<B, 4>, Tensor<B, 2, Int>) -> Tensor<B, 4>,
) -> Result<Tensor<B, 4>> {
    let [_, heads, len, query_dim] = queries.dims();
    let [_, kv_heads, key_len, head_dim] = keys.dims();
    if len != key_len || query_dim != head_dim || kv_heads == 0 || heads % kv_heads != 0 {
        return Err(CoreError::ShapeMismatch {
            what: "queries [1, a multiple of the KV heads, chunk_len, head_dim]".into(),
            expected: vec![1, kv_heads, key_len, head_dim],
            actual: queries.dims().to_vec(),
        });
    }
    let device = keys.device();
    let start = positions.document_start;
    let document = per_head_range(start..start + len, kv_heads, &device);
    let chunk = LayerKv::new(keys, values, document)?;
    let joined = join_memory(hook.memory(layer), chunk, positions.rope_start)?;
    let query_start = joined.chunk_rope_start;
    let queries = rotate(
        queries,
        per_head_range(query_start..query_start + len, heads, &device),
    );
    let keys = rotate(
        joined.entries.keys.clone(),
        joined.rope.tensor(kv_heads, joined.entries.len(), &device),
    );
    let needs = hook.needs(layer);
    let query_block = hook.query_block(layer, joined.entries.len());
    let values = joined.entries.values.clone();
    let (out, stats) = attend(queries, keys, values, None, needs, query_block);
    hook.record(layer, joined.entries, stats);
    Ok(out)
}

impl<B: Backend> LayerMemory<B> {
    /// The first key's RoPE position when the memory's positions are a range that the chunk
    /// continues (`first + len == chunk_rope_start`, as the paper's compact positions always
    /// are): `[memory; chunk]` is then rotated as one range ([`join_memory`]).
    pub fn continued_range(&self) -> Option<usize> {
        match self.rope {
            RopePositions::Range { start } if start + self.kv.len() == self.chunk_rope_start => {
                Some(start)
            }
            _ => None,
        }
    }

    /// Checks that the memory has `n_kv_heads` heads of keys `head_dim` and values
    /// `value_dim` wide, and one RoPE position per entry (where they are explicit).
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`], naming the part that differs.
    pub fn check_shape(&self, n_kv_heads: usize, head_dim: usize, value_dim: usize) -> Result<()> {
        let m = self.kv.len();
        for (what, expected, actual) in [
            (
                "memory keys",
                vec![1, n_kv_heads, m, head_dim],
                self.kv.keys.dims().to_vec(),
            ),
            (
                "memory values",
                vec![1, n_kv_heads, m, value_dim],
                self.kv.values.dims().to_vec(),
            ),
            (
                "memory RoPE positions",
                vec![n_kv_heads, m],
                match &self.rope {
                    RopePositions::Range { .. } => vec![n_kv_heads, m],
                    RopePositions::At(positions) => positions.dims().to_vec(),
                },
            ),
        ] {
            if actual != expected {
                return Err(CoreError::ShapeMismatch {
                    what: what.into(),
                    expected,
                    actual,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::TestBackend as B;
    use crate::{AttentionNeeds, AttentionStats};

    fn kv(heads: usize, len: usize, start: usize, dim: usize) -> LayerKv<B> {
        let device = Default::default();
        let ramp = |offset: f32| {
            Tensor::<B, 1, Int>::arange(0..(heads * len * dim) as i64, &device)
                .float()
                .mul_scalar(0.01)
                .add_scalar(offset)
                .reshape([1, heads, len, dim])
        };
        LayerKv::new(
            ramp(0.0),
            ramp(1.0),
            per_head_range(start..start + len, heads, &device),
        )
        .unwrap()
    }

    fn ints(t: Tensor<B, 2, Int>) -> Vec<i64> {
        t.into_data().convert::<i64>().to_vec().unwrap()
    }

    fn rope_ints(joined: &Joined<B>) -> Vec<i64> {
        let [_, heads, len, _] = joined.entries.keys.dims();
        ints(joined.rope.tensor(heads, len, &Default::default()))
    }

    #[test]
    fn the_chunk_follows_the_memory_at_the_memory_s_rope_start() {
        let device = Default::default();
        let compact = || LayerMemory {
            kv: kv(2, 3, 0, 4),
            rope: RopePositions::Range { start: 0 },
            chunk_rope_start: 3,
        };
        let joined = join_memory(Some(compact()), kv(2, 2, 10, 4), 10).unwrap();
        assert_eq!((joined.memory_len, joined.chunk_rope_start), (3, 3));
        // Compact memory and chunk make one range: no position tensor is built.
        assert!(matches!(joined.rope, RopePositions::Range { start: 0 }));
        assert_eq!(rope_ints(&joined), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
        assert_eq!(
            ints(joined.entries.positions),
            [0, 1, 2, 10, 11, 0, 1, 2, 10, 11]
        );
        // Explicit positions (as `original` gives), or a chunk that does not go on where the
        // memory's range ends, are joined as tensors.
        let explicit = LayerMemory {
            rope: RopePositions::At(per_head_range(0..3, 2, &device)),
            ..compact()
        };
        let joined = join_memory(Some(explicit), kv(2, 2, 10, 4), 10).unwrap();
        assert!(matches!(joined.rope, RopePositions::At(_)));
        assert_eq!(rope_ints(&joined), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
        let apart = LayerMemory {
            chunk_rope_start: 10,
            ..compact()
        };
        let joined = join_memory(Some(apart), kv(2, 2, 10, 4), 10).unwrap();
        assert_eq!(rope_ints(&joined), [0, 1, 2, 10, 11, 0, 1, 2, 10, 11]);
        let alone = join_memory(None, kv(2, 2, 10, 4), 10).unwrap();
        assert_eq!((alone.memory_len, alone.chunk_rope_start), (0, 10));
        assert_eq!(rope_ints(&alone), [10, 11, 10, 11]);
    }

    #[test]
    fn a_memory_of_other_heads_is_refused() {
        let device = Default::default();
        let memory = LayerMemory {
            kv: kv(1, 3, 0, 4),
            rope: RopePositions::At(per_head_range(0..3, 1, &device)),
            chunk_rope_start: 3,
        };
        let err = join_memory(Some(memory), kv(2, 2, 3, 4), 3).unwrap_err();
        assert!(matches!(err, CoreError::ShapeMismatch { .. }), "{err}");
    }

    /// A hook with a fixed memory that keeps what it is handed.
    struct Keep {
        memory: Option<LayerMemory<B>>,
        recorded: Option<(LayerKv<B>, AttentionStats<B>)>,
    }

    impl ChunkHook<B> for Keep {
        fn memory(&mut self, _layer: usize) -> Option<LayerMemory<B>> {
            self.memory.take()
        }
        fn needs(&self, _layer: usize) -> AttentionNeeds {
            AttentionNeeds {
                column_sums: true,
                ..AttentionNeeds::NONE
            }
        }
        fn record(&mut self, _layer: usize, entries: LayerKv<B>, stats: AttentionStats<B>) {
            self.recorded = Some((entries, stats));
        }
    }

    #[test]
    fn queries_that_do_not_fit_the_keys_are_refused() {
        let device = Default::default();
        let chunk = kv(2, 2, 0, 4);
        let positions = ChunkPositions {
            document_start: 0,
            rope_start: 0,
        };
        for shape in [[1, 3, 2, 4], [1, 4, 3, 4], [1, 4, 2, 8]] {
            let mut hook = Keep {
                memory: None,
                recorded: None,
            };
            let queries = Tensor::<B, 4>::ones(shape, &device);
            let err = attend_layer(
                &mut hook,
                0,
                positions,
                queries,
                chunk.keys.clone(),
                chunk.values.clone(),
                |x, _| x,
            )
            .unwrap_err();
            assert!(
                matches!(err, CoreError::ShapeMismatch { .. }),
                "{shape:?}: {err}"
            );
            assert!(
                hook.recorded.is_none(),
                "{shape:?}: nothing reaches the hook"
            );
        }
    }

    #[test]
    fn attend_layer_hands_the_hook_memory_and_chunk_with_the_statistics_asked_for() {
        let device = Default::default();
        let memory = kv(2, 3, 0, 4);
        let mut hook = Keep {
            memory: Some(LayerMemory {
                kv: memory,
                rope: RopePositions::At(per_head_range(0..3, 2, &device)),
                chunk_rope_start: 3,
            }),
            recorded: None,
        };
        let chunk = kv(2, 2, 7, 4);
        let queries = Tensor::<B, 4>::ones([1, 4, 2, 4], &device);
        let positions = ChunkPositions {
            document_start: 7,
            rope_start: 7,
        };
        // The identity "rotation" keeps the check to the plumbing.
        let out = attend_layer(
            &mut hook,
            0,
            positions,
            queries,
            chunk.keys,
            chunk.values,
            |x, _| x,
        )
        .unwrap();
        assert_eq!(out.dims(), [1, 4, 2, 4]);
        let (entries, stats) = hook.recorded.unwrap();
        assert_eq!(ints(entries.positions), [0, 1, 2, 7, 8, 0, 1, 2, 7, 8]);
        let sums = stats.column_sums.expect("the hook asked for column sums");
        assert_eq!(sums.dims(), [2, 5]);
        // Each of the 2 query heads per KV head spreads a probability of 1 per query.
        let total: f32 = sums.sum().into_scalar();
        assert!((total - 8.0).abs() < 1e-4, "{total}");
    }
}
