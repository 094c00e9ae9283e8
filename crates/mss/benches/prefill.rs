//! Prefill time under FM, IM and IMDC (`cargo xtask bench`).
//!
//! - `prefill/tiny_llama`: the 2-layer fixture model, 512 tokens, C = M = 64 — milliseconds, on
//!   any machine, for the loop's own overhead (scheduling, pruning, statistics).
//! - `prefill/smollm2`: the default model (fetched on first use), 1024 tokens, C = M = 256 — the
//!   eval's default preset at half its length, in f32 on the CPU.
//!
//! The time is the whole prefill plus reading the first token's logits back, as the eval's time
//! to first token. Token ids are pseudo-random: the work done does not depend on the text.

// criterion's macros define undocumented functions.
#![allow(missing_docs)]

use burn::prelude::*;
use burn::tensor::DType;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss::{Cpu, PrefillConfig, Prefiller, Transformer};
use std::time::Duration;

/// FM, IM and IMDC for `streaming_llm` (no statistics) and `snapkv` (attention statistics).
fn configs(chunk: usize, memory: usize) -> Vec<(String, PrefillConfig)> {
    let mut configs = Vec::new();
    for pruner in [PrunerKind::StreamingLlm, PrunerKind::SnapKv] {
        for (method, memory_type, decremental) in [
            ("FM", MemoryType::Fm, false),
            ("IM", MemoryType::Im, false),
            ("IMDC", MemoryType::Im, true),
        ] {
            let config = PrefillConfig::new(pruner, memory_type, chunk, memory)
                .with_decremental(decremental);
            configs.push((format!("{pruner}/{method}"), config));
        }
    }
    configs
}

/// Prefills `ids` and reads the first token back.
fn first_token(model: &Transformer<Cpu>, config: &PrefillConfig, ids: &[u32]) -> i64 {
    let prefill = Prefiller::new(config.clone())
        .expect("a valid configuration")
        .prefill(model, ids)
        .expect("the prefill runs");
    prefill.next_logits.argmax(0).into_scalar().elem()
}

fn bench_group(
    c: &mut Criterion,
    name: &str,
    model: &Transformer<Cpu>,
    ids: &[u32],
    chunk: usize,
    memory: usize,
) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(ids.len() as u64));
    for (label, config) in configs(chunk, memory) {
        group.bench_function(label, |b| b.iter(|| first_token(model, &config, ids)));
    }
    group.finish();
}

fn tiny_llama(c: &mut Criterion) {
    let model = mss_testkit::tiny("tiny_llama");
    let ids = mss_testkit::ids(512, model.config.vocab_size, 1);
    bench_group(c, "prefill/tiny_llama/L512_C64_M64", &model, &ids, 64, 64);
}

fn smollm2(c: &mut Criterion) {
    let dir = mss::assets::ensure_default_model().expect("fetching the default model");
    let model = Transformer::<Cpu>::load(&dir, &Default::default(), DType::F32)
        .expect("loading the default model");
    let ids = mss_testkit::ids(1024, model.config.vocab_size, 1);
    bench_group(c, "prefill/smollm2/L1024_C256_M256", &model, &ids, 256, 256);
}

criterion_group!(tiny, tiny_llama);
criterion_group! {
    name = default_model;
    // Seconds per iteration: the fewest samples criterion allows.
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(30));
    targets = smollm2
}
criterion_main!(tiny, default_model);
