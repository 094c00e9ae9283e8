//! Helpers shared by the probes' integration tests (the fixtures and ids: `mss-testkit`).

#![allow(dead_code, missing_docs, unused_imports)]

use mss::{PrefillConfig, Prefiller, Transformer};
use mss_probe::Probes;

pub use mss_testkit::{B, ids, tiny};

/// Prefills `tokens` under `config` with `probes` watching; returns the prefill too.
pub fn probe(
    model: &Transformer<B>,
    tokens: &[u32],
    config: PrefillConfig,
    mut probes: Probes,
) -> (Probes, mss::Prefill<B>) {
    let prefill = Prefiller::new(config)
        .unwrap()
        .prefill_observed(model, tokens, &mut probes)
        .unwrap();
    (probes, prefill)
}

/// Document positions `[head][entry]` of a layer's final memory.
pub fn final_positions(prefill: &mss::Prefill<B>, layer: usize) -> Vec<Vec<i64>> {
    let positions = &prefill.memory.layer(layer).unwrap().positions;
    let [heads, len] = positions.dims();
    let flat: Vec<i64> = positions.to_data().convert::<i64>().to_vec().unwrap();
    (0..heads)
        .map(|h| flat[h * len..(h + 1) * len].to_vec())
        .collect()
}
