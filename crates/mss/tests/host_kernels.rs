//! The host kernels (the default forward pass of an f32 model on the CPU) compute what Burn's
//! generic operations compute: the same perplexities, the same memories chosen by every kind of
//! pruner, the same generated tokens.

mod common;

use common::*;
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss::{Generation, PositionMode, Prefill, PrefillConfig, Prefiller, Transformer, generate};

/// The memory's document positions, layer by layer.
fn kept(prefill: &Prefill<B>, layers: usize) -> Vec<Vec<i64>> {
    (0..layers)
        .map(|layer| match prefill.memory.layer(layer) {
            Some(kv) => kv
                .positions
                .clone()
                .into_data()
                .convert::<i64>()
                .to_vec()
                .unwrap(),
            None => Vec::new(),
        })
        .collect()
}

fn run(model: &Transformer<B>, config: &PrefillConfig, prompt: &[u32]) -> (Prefill<B>, Vec<u32>) {
    let mut prefill = Prefiller::new(config.clone())
        .unwrap()
        .with_nll(true)
        .prefill(model, prompt)
        .unwrap();
    let options = Generation {
        max_new_tokens: 6,
        ..Generation::default()
    };
    let new = generate(model, &mut prefill, &options, &mut |_| {}).unwrap();
    (prefill, new)
}

#[test]
fn host_kernels_match_burn_operations() {
    for name in ["tiny_llama", "tiny_mistral", "tiny_llama_dynamic"] {
        let host = tiny(name);
        let burn = host.clone().with_host_kernels(false);
        assert!(host.uses_host_kernels() && !burn.uses_host_kernels());
        let layers = host.config.num_hidden_layers;
        let prompt = ids(90, 128, 7);
        for pruner in [
            PrunerKind::StreamingLlm,
            PrunerKind::SnapKv,
            PrunerKind::H2o,
            PrunerKind::Tova,
            PrunerKind::Roco,
        ] {
            for (memory_type, decremental) in [
                (MemoryType::Fm, false),
                (MemoryType::Im, true),
                (MemoryType::Fi, false),
            ] {
                for positions in [PositionMode::Compact, PositionMode::Original] {
                    let config = PrefillConfig::new(pruner, memory_type, 16, 24)
                        .with_decremental(decremental)
                        .with_positions(positions);
                    let what = format!("{name} {pruner} {memory_type} {positions}");
                    let (ours, our_tokens) = run(&host, &config, &prompt);
                    let (theirs, their_tokens) = run(&burn, &config, &prompt);
                    let err =
                        relative_error(&ours.nll.clone().unwrap(), &theirs.nll.clone().unwrap());
                    assert!(err <= 1e-5, "{what}: NLL relative error {err}");
                    assert_eq!(
                        kept(&ours, layers),
                        kept(&theirs, layers),
                        "{what}: memories"
                    );
                    assert_eq!(our_tokens, their_tokens, "{what}: generated tokens");
                }
            }
        }
    }
}
