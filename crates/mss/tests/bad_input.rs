//! Bad input to the prefill loop: typed errors or documented behaviour, never a panic.

mod common;

use common::*;
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss::{Error, PrefillConfig, Prefiller};

#[test]
fn an_empty_prompt_is_an_error() {
    let model = tiny("tiny_llama");
    let err = Prefiller::new(PrefillConfig::new(
        PrunerKind::SnapKv,
        MemoryType::Fm,
        8,
        16,
    ))
    .unwrap()
    .prefill(&model, &[])
    .unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument { name: "tokens", .. }),
        "{err}"
    );
}

#[test]
fn a_prompt_shorter_than_the_sinks_is_kept_whole() {
    let model = tiny("tiny_llama");
    let prompt = ids(3, 128, 1);
    for kind in [PrunerKind::StreamingLlm, PrunerKind::H2o, PrunerKind::Roco] {
        let config = PrefillConfig::new(kind, MemoryType::Fm, 8, 16);
        let prefill = Prefiller::new(config)
            .unwrap()
            .with_nll(true)
            .prefill(&model, &prompt)
            .unwrap();
        assert_eq!(prefill.memory.lens(), vec![3, 3], "{kind}");
        assert_eq!(prefill.nll.unwrap().len(), 2);
    }
}

#[test]
fn a_memory_larger_than_the_prompt_prunes_nothing() {
    let model = tiny("tiny_mistral");
    let prompt = ids(40, 128, 2);
    for (memory_type, decremental) in [
        (MemoryType::Fm, false),
        (MemoryType::Im, false),
        (MemoryType::Fi, false),
    ] {
        let config = PrefillConfig::new(PrunerKind::SnapKv, memory_type, 8, 1000)
            .with_decremental(decremental);
        let prefill = Prefiller::new(config)
            .unwrap()
            .prefill(&model, &prompt)
            .unwrap();
        let kept = prefill.memory.lens();
        assert!(kept.iter().all(|&n| n <= 40), "{memory_type}: {kept:?}");
        if memory_type == MemoryType::Fm {
            assert_eq!(kept, vec![40, 40]);
        }
    }
}

#[test]
fn unknown_pruners_and_types_list_the_valid_choices() {
    let err = "perceiver".parse::<PrunerKind>().unwrap_err().to_string();
    assert!(
        err.contains("streaming_llm") && err.contains("random"),
        "{err}"
    );
    let err = "XM".parse::<MemoryType>().unwrap_err().to_string();
    assert!(
        err.contains("FM") && err.contains("IM") && err.contains("FI"),
        "{err}"
    );
}

#[test]
fn token_ids_outside_the_vocabulary_are_rejected() {
    let model = tiny("tiny_llama");
    let err = Prefiller::new(PrefillConfig::full_attention(8))
        .unwrap()
        .prefill(&model, &[1, 2, 128, 3])
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TokenOutOfVocabulary {
                id: 128,
                index: 2,
                vocab_size: 128
            }
        ),
        "{err}"
    );
}

#[test]
fn a_zero_chunk_or_a_decremental_fm_is_refused_up_front() {
    let err = Prefiller::<B>::new(PrefillConfig::new(
        PrunerKind::SnapKv,
        MemoryType::Fm,
        0,
        16,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("chunk"), "{err}");
    let config =
        PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Fm, 8, 16).with_decremental(true);
    let err = Prefiller::<B>::new(config).unwrap_err();
    assert!(matches!(err, Error::Schedule(_)), "{err}");
}

#[test]
fn a_schedule_that_cannot_form_decremental_chunks_is_a_typed_error() {
    // M close to L leaves no room for decremental chunks (mss-schedule: NonPositiveChunk).
    let model = tiny("tiny_llama");
    let prompt = ids(64, 128, 3);
    let config =
        PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Im, 8, 60).with_decremental(true);
    let err = Prefiller::new(config)
        .unwrap()
        .prefill(&model, &prompt)
        .unwrap_err();
    assert!(matches!(err, Error::Schedule(_)), "{err}");
}

#[test]
fn a_schedule_over_the_memory_cap_is_refused_with_the_numbers() {
    let model = tiny("tiny_llama");
    let prompt = ids(64, 128, 4);
    let config = PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Fm, 16, 16);
    let err = Prefiller::new(config.clone())
        .unwrap()
        .with_memory_cap(10_000)
        .prefill(&model, &prompt)
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Schedule(_)), "{msg}");
    assert!(msg.contains("10000"), "the cap is named: {msg}");
    // A cap above the prediction lets the prefill run.
    Prefiller::new(config)
        .unwrap()
        .with_memory_cap(1 << 30)
        .prefill(&model, &prompt)
        .unwrap();
}

#[test]
fn positions_past_the_trained_window_are_refused_unless_allowed() {
    // tiny_llama: 128 trained positions, no RoPE scaling.
    let model = tiny("tiny_llama");
    let prompt = ids(200, 128, 3);
    let refused = |config: PrefillConfig| {
        let err = Prefiller::new(config)
            .unwrap()
            .prefill(&model, &prompt)
            .unwrap_err();
        match err {
            Error::PastTrainedPositions {
                needed, trained, ..
            } => (needed, trained),
            other => panic!("{other}"),
        }
    };
    // Full attention rotates at every document position.
    assert_eq!(refused(PrefillConfig::full_attention(32)), (200, 128));
    // Original positions too, whatever the memory.
    let original = PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Fm, 32, 16)
        .with_positions(mss::PositionMode::Original);
    assert_eq!(refused(original), (200, 128));
    // Compact positions need sinks + M + C: 4 + 100 + 32 = 136 at the largest step.
    let wide = PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Fm, 32, 100);
    assert_eq!(refused(wide.clone()), (136, 128));
    // Within the window, or allowed: runs.
    let narrow = PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Fm, 32, 64);
    for config in [
        narrow,
        wide.with_past_trained_positions(true),
        PrefillConfig::full_attention(32).with_past_trained_positions(true),
    ] {
        Prefiller::new(config)
            .unwrap()
            .prefill(&model, &prompt)
            .unwrap();
    }
}

/// The tiny model on a pretend device: it may report `free` bytes free, and its second chunk
/// may fail with `panic` (as CubeCL fails a CUDA allocation, or with another panic).
struct PretendDevice {
    inner: mss::Transformer<B>,
    free: Option<u64>,
    panic: Option<&'static str>,
    chunks: std::cell::Cell<usize>,
}

impl PretendDevice {
    fn new() -> Self {
        Self {
            inner: tiny("tiny_llama"),
            free: None,
            panic: None,
            chunks: Default::default(),
        }
    }
}

impl mss::core::ChunkedModel<B> for PretendDevice {
    fn shape(&self) -> mss::core::ModelShape {
        self.inner.shape()
    }

    fn device(&self) -> burn::tensor::Device<B> {
        self.inner.device()
    }

    fn free_device_memory(&self) -> Option<u64> {
        self.free
    }

    fn forward_chunk(
        &self,
        tokens: burn::prelude::Tensor<B, 2, burn::prelude::Int>,
        positions: mss::core::ChunkPositions,
        hook: &mut dyn mss::core::ChunkHook<B>,
        logits: mss::core::Logits,
    ) -> mss::core::Result<burn::prelude::Tensor<B, 3>> {
        self.chunks.set(self.chunks.get() + 1);
        if let Some(message) = self.panic.filter(|_| self.chunks.get() == 2) {
            panic!("{message}");
        }
        self.inner.forward_chunk(tokens, positions, hook, logits)
    }
}

#[test]
fn a_device_out_of_memory_is_a_typed_error_with_the_predictions() {
    let model = PretendDevice {
        panic: Some("can't allocate buffer of size: 123456789\nbacktrace: ..."),
        ..PretendDevice::new()
    };
    let config = PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Fm, 16, 32);
    let err = Prefiller::new(config)
        .unwrap()
        .prefill(&model, &ids(64, 128, 5))
        .unwrap_err();
    let Error::OutOfMemory {
        predicted,
        alternatives,
        cause,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(cause, "can't allocate buffer of size: 123456789");
    assert!(predicted.ends_with("GiB"), "{err}");
    assert!(
        alternatives.contains("chunk 8: ") && alternatives.contains("memory 16: "),
        "{err}"
    );
    assert!(err.to_string().contains("--memory-cap"), "{err}");
}

#[test]
#[should_panic(expected = "a bug")]
fn other_panics_go_on_unwinding() {
    let model = PretendDevice {
        panic: Some("a bug"),
        ..PretendDevice::new()
    };
    let config = PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Fm, 16, 32);
    let _ = Prefiller::new(config)
        .unwrap()
        .prefill(&model, &ids(64, 128, 5));
}

#[test]
fn a_prefill_the_device_cannot_hold_is_refused_before_it_runs() {
    let config = PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Fm, 32, 64);
    let prompt = ids(120, 128, 6);
    let predicted = Prefiller::<B>::new(config.clone())
        .unwrap()
        .predict(&tiny("tiny_llama"), prompt.len())
        .unwrap()
        .peak_bytes();
    let small = PretendDevice {
        free: Some(predicted - 1),
        ..PretendDevice::new()
    };
    let err = Prefiller::new(config.clone())
        .unwrap()
        .prefill(&small, &prompt)
        .unwrap_err();
    let Error::NotEnoughDeviceMemory {
        predicted: p,
        free,
        smaller_chunk,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((*p, *free), (predicted, predicted - 1));
    assert_eq!(*smaller_chunk, Some(16), "{err}");
    assert!(err.to_string().contains("chunk 16 (same memory)"), "{err}");
    // Enough room: it runs. An explicit cap replaces the device's figure.
    let roomy = PretendDevice {
        free: Some(predicted),
        ..small
    };
    Prefiller::new(config.clone())
        .unwrap()
        .prefill(&roomy, &prompt)
        .unwrap();
    let capped = PretendDevice {
        free: Some(0),
        ..roomy
    };
    Prefiller::new(config)
        .unwrap()
        .with_memory_cap(1 << 30)
        .prefill(&capped, &prompt)
        .unwrap();
}
