//! A device that runs out of memory during a prefill: the backend's panic becomes
//! [`Error::OutOfMemory`] with the cost model's figures, so that an eval grid records the cell
//! and goes on, and a user learns which sizes need less.
//!
//! CubeCL answers a failed CUDA allocation with `IoError::BufferTooBig` ("can't allocate buffer
//! of size"), which Burn's operations unwrap: a panic in the calling thread. Only panics whose
//! message says the memory ran out are turned into errors; any other panic goes on unwinding.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use burn::prelude::*;
use mss_core::ChunkedModel;

use crate::{Error, PrefillConfig, Prefiller, Result};

/// Words by which CubeCL, the CUDA driver and the allocator say that memory ran out.
const OUT_OF_MEMORY: [&str; 4] = [
    "can't allocate buffer",
    "out of memory",
    "OutOfMemory",
    "CUDA_ERROR_OUT_OF_MEMORY",
];

/// Runs `f`; a panic that says memory ran out becomes [`Error::OutOfMemory`] for a prefill of
/// `n_tokens` with `prefiller`'s configuration on `model`.
pub(crate) fn guard<B: Backend, T>(
    prefiller: &mut Prefiller<B>,
    model: &impl ChunkedModel<B>,
    n_tokens: usize,
    f: impl FnOnce(&mut Prefiller<B>) -> Result<T>,
) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(|| f(prefiller))) {
        Ok(result) => result,
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            if !OUT_OF_MEMORY.iter().any(|m| message.contains(m)) {
                resume_unwind(payload);
            }
            Err(out_of_memory(prefiller, model, n_tokens, message))
        }
    }
}

/// The message of a panic's payload (`panic!`'s `&str` or `String`); empty for any other.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// The error, with the predicted working set of this configuration and of half its chunk and
/// (where it prunes) half its memory.
fn out_of_memory<B: Backend>(
    prefiller: &Prefiller<B>,
    model: &impl ChunkedModel<B>,
    n_tokens: usize,
    message: String,
) -> Error {
    let config = prefiller.config();
    let predict = |config: PrefillConfig| {
        Prefiller::<B>::new(config)
            .and_then(|p| p.with_nll(prefiller.nll()).predict(model, n_tokens))
            .map(|p| p.peak_bytes())
            .ok()
    };
    let mut alternatives = Vec::new();
    let chunk = config.chunk() / 2;
    if chunk > 0 {
        let mut smaller = config.clone();
        smaller.schedule.chunk = chunk;
        if let Some(bytes) = predict(smaller) {
            alternatives.push(format!("chunk {chunk}: {}", gib(bytes)));
        }
    }
    let memory = config.memory() / 2;
    if config.memory_type().prunes() && memory > 0 {
        let mut smaller = config.clone();
        smaller.schedule.memory = memory;
        if let Some(bytes) = predict(smaller) {
            alternatives.push(format!("memory {memory}: {}", gib(bytes)));
        }
    }
    let cause = message.lines().next().unwrap_or_default().to_owned();
    Error::OutOfMemory {
        predicted: predict(config.clone()).map_or_else(|| "unknown".into(), gib),
        alternatives: match alternatives.is_empty() {
            true => "no smaller chunk or memory".into(),
            false => alternatives.join(", "),
        },
        cause,
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}
