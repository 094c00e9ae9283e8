//! One run: perplexity from a prefill that keeps every chunk's logits, then time to first token
//! and peak memory from a second prefill that keeps only the last logits (as a user would run).

use mss::schedule::names::Named;
use std::time::Instant;

use burn::prelude::*;
use mss::{Prefiller, Transformer};

use super::corpus::Document;
use super::device_memory::{self, InUsePeak};
use super::grid::RunSpec;
use super::peak_memory;
use super::record::Record;

/// Measures `spec` on `doc`. A configuration the library refuses becomes an `error` record.
pub fn run<B: Backend>(
    model: &Transformer<B>,
    spec: &RunSpec,
    doc: &Document,
    repeats: usize,
    backend: &str,
) -> Record {
    let key = spec.key(&doc.name, doc.ids.len());
    let mut record = Record {
        key,
        // Set by the caller, which knows the model folder.
        model: String::new(),
        status: super::guard::OK.into(),
        error: None,
        doc: doc.name.clone(),
        doc_tokens: doc.ids.len(),
        pruner: spec.pruner_name().into(),
        method: spec.method.to_string(),
        incremental: spec.incremental.to_string(),
        chunk: spec.chunk,
        step_ntk: spec.step_ntk,
        memory: spec.memory,
        sinks: spec.config().schedule.sinks,
        positions: spec.positions.name().into(),
        perplexity: None,
        mean_nll: None,
        ttft_s: None,
        ttft_runs: Vec::new(),
        tokens_per_s: None,
        peak_bytes: None,
        peak_growth_bytes: None,
        memory_measure: memory_measure(backend),
        predicted_peak_bytes: None,
        chunks: Vec::new(),
        memory_sizes: Vec::new(),
        backend: backend.to_owned(),
        finished_at: 0,
    };
    let mut measured = record.clone();
    let done = super::guard::run_into(&mut record.status, &mut record.error, || {
        measure(model, spec, doc, repeats, &mut measured)
    });
    if done.is_some() {
        record = measured;
    }
    record.finished_at = super::record::now();
    record
}

fn measure<B: Backend>(
    model: &Transformer<B>,
    spec: &RunSpec,
    doc: &Document,
    repeats: usize,
    record: &mut Record,
) -> mss::Result<()> {
    let prefill = Prefiller::new(spec.config())?
        .with_nll(true)
        .prefill(model, &doc.ids)?;
    let nll = prefill.nll.as_deref().unwrap_or_default();
    let mean = nll.iter().map(|&x| x as f64).sum::<f64>() / nll.len().max(1) as f64;
    record.mean_nll = Some(mean);
    record.perplexity = Some(mean.exp());
    record.chunks = prefill.steps.iter().map(|s| s.tokens.len()).collect();
    record.memory_sizes = prefill
        .steps
        .iter()
        .map(|s| s.memory.iter().copied().max().unwrap_or(0))
        .collect();
    drop(prefill);
    if repeats == 0 {
        return Ok(());
    }
    let mut prefiller = Prefiller::new(spec.config())?;
    record.predicted_peak_bytes = Some(prefiller.predict(model, doc.ids.len())?.peak_bytes());
    let cpu = backend_is_cpu(&record.backend);
    let mut in_use = InUsePeak::default();
    let heap_before = crate::alloc::reset_peak();
    device_memory::clean();
    in_use.sample();
    let in_use_before = in_use.peak;
    peak_memory::reset_peak();
    // Memory is measured on the first timed prefill; the others add times only.
    for run in 0..repeats {
        let start = Instant::now();
        // The sampler runs only on the GPU: on the CPU the counting allocator sees every byte.
        let prefill = if cpu || run > 0 {
            prefiller.prefill(model, &doc.ids)?
        } else {
            prefiller.prefill_observed(model, &doc.ids, &mut in_use)?
        };
        // The first token: reading its logits back also waits for the device to finish.
        let _first = prefill.next_logits.clone().argmax(0).into_scalar();
        record.ttft_runs.push(start.elapsed().as_secs_f64());
        if run > 0 {
            continue;
        }
        let after = peak_memory::resident();
        if cpu {
            record.peak_growth_bytes =
                Some(crate::alloc::peak().saturating_sub(heap_before) as u64);
            record.peak_bytes = after.map(|a| a.peak);
        } else if let Some(reserved) = device_memory::reserved() {
            record.peak_bytes = Some(reserved);
            record.peak_growth_bytes = Some(in_use.peak.saturating_sub(in_use_before));
        }
    }
    let secs = mss_examples::median(&record.ttft_runs);
    record.ttft_s = Some(secs);
    record.tokens_per_s = Some(doc.ids.len() as f64 / secs);
    Ok(())
}

fn backend_is_cpu(backend: &str) -> bool {
    backend.starts_with("flex")
}

fn memory_measure(backend: &str) -> String {
    if backend_is_cpu(backend) {
        "growth = peak of live heap bytes during the timed prefill over those live before it (counting allocator); peak = process peak resident set (VmHWM, reset before the prefill)".into()
    } else {
        "GPU: growth = peak of CubeCL's in-use bytes, sampled at every layer's memory rewrite of the timed prefill, over those in use before it; peak = bytes reserved by the memory pool after the prefill (cleaned before it; whole pages)".into()
    }
}
