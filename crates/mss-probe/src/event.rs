//! A memory rewrite read back to the host, and the [`Probe`] trait every probe implements.

use std::ops::Range;

use burn::prelude::*;
use mss_core::{AttentionNeeds, MemoryEvent};

/// A [`MemoryEvent`] read back to the host once, so that several probes can share it.
///
/// Rows are per KV head. Memories are in document order with the sinks first.
#[derive(Debug, Clone, PartialEq)]
pub struct HostEvent {
    /// Chunk step.
    pub step: usize,
    /// Layer.
    pub layer: usize,
    /// The chunk's tokens in the prompt.
    pub chunk: Range<usize>,
    /// Number of sink entries at the front of both memories.
    pub sinks: usize,
    /// Document positions of the memory before the step, per KV head (sinks included).
    pub before: Vec<Vec<i64>>,
    /// Document positions of the memory after the step, per KV head (sinks included).
    pub after: Vec<Vec<i64>>,
    /// Column sums of the chunk's attention over `[before; chunk]`, per KV head (summed over
    /// its query heads), when asked for.
    pub column_sums: Option<Vec<Vec<f32>>>,
    /// Number of the chunk's queries that see each key of `[before; chunk]`, per KV head.
    pub visible_queries: Option<Vec<Vec<f32>>>,
}

impl HostEvent {
    /// Reads `event` to the host: positions always, column sums and visible-query counts when
    /// `needs.column_sums` is set and the event carries them.
    pub fn read<B: Backend>(event: &MemoryEvent<'_, B>, needs: AttentionNeeds) -> Self {
        let stats = |t: &Option<Tensor<B, 2>>| {
            needs
                .column_sums
                .then(|| t.as_ref().map(float_rows))
                .flatten()
        };
        Self {
            step: event.step,
            layer: event.layer,
            chunk: event.chunk.clone(),
            sinks: event.sinks,
            before: int_rows(event.before.as_ref(), event.n_kv_heads),
            after: int_rows(event.after.as_ref(), event.n_kv_heads),
            column_sums: stats(&event.stats.column_sums),
            visible_queries: stats(&event.stats.visible_queries),
        }
    }

    /// Number of KV heads.
    pub fn n_kv_heads(&self) -> usize {
        self.after.len().max(self.before.len())
    }

    /// The memory before the step of `head`, sinks excluded.
    pub fn old_memory(&self, head: usize) -> &[i64] {
        without_sinks(&self.before[head], self.sinks)
    }

    /// The memory after the step of `head`, sinks excluded.
    pub fn new_memory(&self, head: usize) -> &[i64] {
        without_sinks(&self.after[head], self.sinks)
    }

    /// Number of sink entries actually at the front of the old memory of `head`.
    pub fn old_sinks(&self, head: usize) -> usize {
        self.sinks.min(self.before[head].len())
    }
}

fn without_sinks(row: &[i64], sinks: usize) -> &[i64] {
    &row[sinks.min(row.len())..]
}

/// Rows of positions per head; an absent (empty) memory has `heads` empty rows.
fn int_rows<B: Backend>(t: Option<&Tensor<B, 2, Int>>, heads: usize) -> Vec<Vec<i64>> {
    let Some(t) = t else {
        return vec![Vec::new(); heads];
    };
    let [heads, len] = t.dims();
    let flat: Vec<i64> = t
        .to_data()
        .convert::<i64>()
        .to_vec()
        .expect("positions convert to i64");
    rows(flat, heads, len)
}

fn float_rows<B: Backend>(t: &Tensor<B, 2>) -> Vec<Vec<f32>> {
    let [heads, len] = t.dims();
    let flat: Vec<f32> = t
        .to_data()
        .convert::<f32>()
        .to_vec()
        .expect("statistics convert to f32");
    rows(flat, heads, len)
}

fn rows<T: Clone>(flat: Vec<T>, heads: usize, len: usize) -> Vec<Vec<T>> {
    if len == 0 {
        return vec![Vec::new(); heads];
    }
    flat.chunks(len).map(<[T]>::to_vec).collect()
}

/// A memory probe: it declares the statistics it needs and records host-side events.
///
/// Every probe of this crate is also a [`MemoryObserver`](mss_core::MemoryObserver) on any
/// backend; [`Probes`](crate::Probes) reads each event once and hands it to all its probes.
pub trait Probe {
    /// The attention statistics this probe needs.
    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds::NONE
    }

    /// A new prefill begins: forget what was recorded.
    fn start(&mut self, prompt_len: usize, n_layers: usize);

    /// One layer's memory was rewritten.
    fn record(&mut self, event: &HostEvent);
}

/// Implements [`MemoryObserver`](mss_core::MemoryObserver) for a [`Probe`] on every backend.
macro_rules! observer {
    ($probe:ty) => {
        impl<B: burn::prelude::Backend> mss_core::MemoryObserver<B> for $probe {
            fn needs(&self) -> mss_core::AttentionNeeds {
                $crate::Probe::needs(self)
            }

            fn start(&mut self, prompt_len: usize, n_layers: usize) {
                $crate::Probe::start(self, prompt_len, n_layers);
            }

            fn on_memory(&mut self, event: &mss_core::MemoryEvent<'_, B>) {
                let host = $crate::HostEvent::read(event, $crate::Probe::needs(self));
                $crate::Probe::record(self, &host);
            }
        }
    };
}
pub(crate) use observer;

#[cfg(test)]
pub(crate) mod fixtures {
    //! Hand-made events for the probes' unit tests.

    use super::*;
    use crate::tests::TestBackend as B;
    use mss_core::AttentionStats;

    /// Positions `[heads, len]` from rows of equal length.
    pub fn positions(rows: &[&[i64]]) -> Tensor<B, 2, Int> {
        let len = rows.first().map_or(0, |r| r.len());
        let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(
            TensorData::new(flat, [rows.len(), len]),
            &Default::default(),
        )
    }

    /// Whether rows hold any entry (an empty memory is `None` in an event).
    fn present(rows: &[&[i64]]) -> bool {
        rows.iter().any(|r| !r.is_empty())
    }

    /// Floats `[heads, len]` from rows of equal length.
    pub fn floats(rows: &[&[f32]]) -> Tensor<B, 2> {
        let len = rows.first().map_or(0, |r| r.len());
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(
            TensorData::new(flat, [rows.len(), len]),
            &Default::default(),
        )
    }

    /// Statistics with column sums and visible-query counts.
    pub fn stats(sums: &[&[f32]], visible: &[&[f32]]) -> AttentionStats<B> {
        AttentionStats {
            column_sums: Some(floats(sums)),
            visible_queries: Some(floats(visible)),
            ..AttentionStats::none()
        }
    }

    /// A memory event without statistics.
    pub fn event<'a>(
        step: usize,
        layer: usize,
        chunk: Range<usize>,
        before: &[&[i64]],
        after: &[&[i64]],
        stats: &'a AttentionStats<B>,
    ) -> MemoryEvent<'a, B> {
        MemoryEvent {
            step,
            layer,
            chunk,
            sinks: 2,
            n_kv_heads: before.len().max(after.len()),
            before: present(before).then(|| positions(before)),
            after: present(after).then(|| positions(after)),
            stats,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use mss_core::AttentionStats;

    #[test]
    fn reading_an_event_splits_rows_per_head_and_strips_sinks() {
        let stats = stats(
            &[&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]],
            &[&[2.0; 3], &[2.0; 3]],
        );
        let e = event(1, 3, 4..6, &[&[0], &[0]], &[&[0, 1, 5], &[0, 1, 4]], &stats);
        let all = HostEvent::read(&e, AttentionNeeds::NONE.union(column_sums()));
        assert_eq!((all.step, all.layer, all.chunk.clone()), (1, 3, 4..6));
        assert_eq!(all.n_kv_heads(), 2);
        assert_eq!(all.new_memory(0), &[5]);
        assert_eq!(all.new_memory(1), &[4]);
        // Fewer entries than sinks: nothing left.
        assert!(all.old_memory(1).is_empty());
        assert_eq!(all.old_sinks(0), 1);
        assert_eq!(all.column_sums.as_ref().unwrap()[1], vec![4.0, 5.0, 6.0]);
        let bare = HostEvent::read(&e, AttentionNeeds::NONE);
        assert_eq!(bare.column_sums, None);
        let none = AttentionStats::none();
        let empty = event(0, 0, 0..3, &[&[], &[]], &[&[0, 1, 2], &[0, 1, 2]], &none);
        let host = HostEvent::read(&empty, column_sums());
        assert_eq!(host.before, vec![Vec::<i64>::new(); 2]);
        assert_eq!(host.visible_queries, None);
    }

    fn column_sums() -> AttentionNeeds {
        AttentionNeeds {
            column_sums: true,
            ..AttentionNeeds::NONE
        }
    }
}
