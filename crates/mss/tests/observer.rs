//! A memory observer sees every layer's memory rewrite with exact positions and the statistics
//! it asked for.

mod common;

use burn::prelude::*;
use common::*;
use mss::core::{AttentionNeeds, MemoryEvent, MemoryObserver};
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss::{PrefillConfig, Prefiller};

/// `(step, layer, positions before, positions after, chunk start)` of head 0.
type Event = (usize, usize, Vec<i64>, Vec<i64>, usize);

#[derive(Default)]
struct Recorder {
    events: Vec<Event>,
}

fn row(t: Option<&Tensor<B, 2, Int>>) -> Vec<i64> {
    let Some(t) = t else {
        return Vec::new();
    };
    let [_, len] = t.dims();
    let all: Vec<i64> = t.to_data().convert::<i64>().to_vec().unwrap();
    all[..len].to_vec()
}

impl MemoryObserver<B> for Recorder {
    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds {
            column_sums: true,
            ..AttentionNeeds::NONE
        }
    }

    fn on_memory(&mut self, event: &MemoryEvent<'_, B>) {
        let sums = event
            .stats
            .column_sums
            .as_ref()
            .expect("the observer's needs are computed");
        let keys = sums.dims()[1];
        assert_eq!(keys, event.before_len() + event.chunk.len());
        self.events.push((
            event.step,
            event.layer,
            row(event.before.as_ref()),
            row(event.after.as_ref()),
            event.chunk.start,
        ));
    }
}

#[test]
fn the_observer_sees_every_rewrite_with_document_positions() {
    let model = tiny("tiny_llama");
    let prompt = ids(64, 128, 11);
    // streaming_llm needs no statistics itself: the observer's are computed anyway.
    let config =
        PrefillConfig::new(PrunerKind::StreamingLlm, MemoryType::Im, 16, 12).with_decremental(true);
    let mut recorder = Recorder::default();
    let prefill = Prefiller::new(config)
        .unwrap()
        .prefill_observed(&model, &prompt, &mut recorder)
        .unwrap();
    assert_eq!(recorder.events.len(), prefill.steps.len() * 2);
    for (i, (step, layer, before, after, start)) in recorder.events.iter().enumerate() {
        assert_eq!((*step, *layer), (i / 2, i % 2));
        let chunk = &prefill.steps[*step].tokens;
        assert_eq!(*start, chunk.start);
        // Everything kept was in memory or in the chunk, and the sinks stay.
        assert!(
            after
                .iter()
                .all(|p| before.contains(p) || chunk.contains(&(*p as usize))),
            "{after:?}"
        );
        assert_eq!(&after[..4], &[0, 1, 2, 3]);
        let expected = prefill.steps[*step].memory[*layer];
        assert_eq!(after.len(), expected);
    }
}

/// Counts zero-length position tensors in events, and the memory kept at each event.
#[derive(Default)]
struct Shapes {
    empty_tensors: usize,
    kept: Vec<usize>,
}

impl MemoryObserver<B> for Shapes {
    fn on_memory(&mut self, event: &MemoryEvent<'_, B>) {
        let tensors = [event.before.as_ref(), event.after.as_ref()];
        self.empty_tensors += tensors
            .into_iter()
            .flatten()
            .filter(|t| t.dims()[1] == 0)
            .count();
        self.kept.push(event.after_len());
    }
}

#[test]
fn an_empty_memory_is_never_a_zero_length_tensor() {
    // No sinks, and IM growing to M = 4 over 8 steps: the first step's budget is 0, so the
    // memory is empty after it (CUDA refuses kernels over zero elements; Flex would not notice).
    let model = tiny("tiny_llama");
    let prompt = ids(64, 128, 5);
    for pruner in [PrunerKind::StreamingLlm, PrunerKind::SnapKv] {
        let config = PrefillConfig::new(pruner, MemoryType::Im, 8, 4).with_sinks(0);
        let mut shapes = Shapes::default();
        let prefill = Prefiller::new(config)
            .unwrap()
            .prefill_observed(&model, &prompt, &mut shapes)
            .unwrap();
        assert_eq!(shapes.empty_tensors, 0, "{pruner}");
        let reported: Vec<usize> = prefill
            .steps
            .iter()
            .flat_map(|s| s.memory.clone())
            .collect();
        assert_eq!(shapes.kept, reported, "{pruner}");
        assert_eq!(shapes.kept[..2], [0, 0], "{pruner}: step 0 keeps nothing");
        assert_eq!(prefill.memory.lens(), [4, 4], "{pruner}");
    }
}
