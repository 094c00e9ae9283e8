//! A positional pruner is asked once per step and shape, and its answer serves every layer
//! alike: the prefill is the same as when it is asked for each layer.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::prelude::*;
use common::*;
use mss::core::{AttentionNeeds, PruneInput, Pruner};
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss::{PrefillConfig, Prefiller};

/// StreamingLLM that counts its calls and says it is positional or not.
struct Counted {
    positional: bool,
    calls: Arc<AtomicUsize>,
}

impl Pruner<B> for Counted {
    fn name(&self) -> &str {
        "counted streaming_llm"
    }

    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds::NONE
    }

    fn prune(&mut self, input: PruneInput<'_, B>) -> Tensor<B, 2, Int> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        mss::pruners::streaming_llm().prune(input)
    }

    fn positional(&self) -> bool {
        self.positional
    }
}

/// The keys, values and positions of every layer's memory, and the next token's logits.
fn run(config: &PrefillConfig, positional: bool) -> (usize, Vec<Vec<f32>>, Vec<i64>, Vec<f32>) {
    let model = tiny("tiny_llama");
    let prompt = ids(70, 128, 3);
    let calls = Arc::new(AtomicUsize::new(0));
    let pruner = Counted {
        positional,
        calls: calls.clone(),
    };
    let prefill = Prefiller::with_pruner(config.clone(), Box::new(pruner))
        .unwrap()
        .prefill(&model, &prompt)
        .unwrap();
    let mut entries = Vec::new();
    let mut positions = Vec::new();
    for layer in 0..model.config.num_hidden_layers {
        let kv = prefill.memory.layer(layer).expect("memory is kept");
        entries.push(kv.keys.to_data().convert::<f32>().to_vec().unwrap());
        entries.push(kv.values.to_data().convert::<f32>().to_vec().unwrap());
        positions.extend(
            kv.positions
                .to_data()
                .convert::<i64>()
                .to_vec::<i64>()
                .unwrap(),
        );
    }
    let logits = prefill.next_logits.to_data().to_vec().unwrap();
    (calls.load(Ordering::Relaxed), entries, positions, logits)
}

#[test]
fn a_positional_pruner_is_asked_once_a_step_for_every_layer() {
    let layers = tiny("tiny_llama").config.num_hidden_layers;
    assert!(layers > 1, "the fixture must have layers to share a choice");
    for memory_type in [MemoryType::Fm, MemoryType::Im, MemoryType::Fi] {
        let config = PrefillConfig::new(PrunerKind::StreamingLlm, memory_type, 16, 12);
        let (per_layer, entries, positions, logits) = run(&config, false);
        let (per_step, shared_entries, shared_positions, shared_logits) = run(&config, true);
        assert!(per_layer > 0, "{memory_type:?}: the pruner was asked");
        // Every layer of a step has the same shape under these schedules.
        assert_eq!(per_step * layers, per_layer, "{memory_type:?}");
        assert_eq!(shared_entries, entries, "{memory_type:?}: the memories");
        assert_eq!(
            shared_positions, positions,
            "{memory_type:?}: their positions"
        );
        assert_eq!(
            shared_logits, logits,
            "{memory_type:?}: the next token's logits"
        );
    }
}
