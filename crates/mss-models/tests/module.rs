//! `Transformer` is a Burn module: it nests in a module of yours, moves with `to_device`, and
//! saves and loads with Burn's recorders.

mod common;

use burn::config::Config;
use burn::module::{Module, Param};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::DType;
use common::*;
use mss_models::{Transformer, TransformerConfig};

/// A module of a user's that holds the decoder.
#[derive(Module, Debug)]
struct Wrapper<B: Backend> {
    decoder: Transformer<B>,
    temperature: Param<Tensor<B, 1>>,
}

#[test]
fn a_saved_record_loads_into_a_fresh_model_and_gives_the_same_logits() {
    let (ids, expected, _) = golden("tiny_llama");
    let model = load("tiny_llama", DType::F32);
    let before = logits(&model, &ids);
    assert!(relative_error(&before, &expected) <= 1e-4);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny_llama");
    let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
    model.clone().save_file(&path, &recorder).unwrap();
    model.config.save(dir.path().join("config.json")).unwrap();

    // A model of the saved configuration with random weights, then the record.
    let config = TransformerConfig::load(dir.path().join("config.json")).unwrap();
    assert_eq!(config, model.config);
    let device = Default::default();
    let fresh = config.init::<B>(&device, DType::F32);
    assert!(
        relative_error(&logits(&fresh, &ids), &expected) > 1e-2,
        "random at first"
    );
    let loaded = fresh.load_file(&path, &recorder, &device).unwrap();
    assert_eq!(
        logits(&loaded, &ids),
        before,
        "the record holds every weight"
    );
}

#[test]
fn the_decoder_nests_in_a_module_and_moves_with_it() {
    let (ids, expected, _) = golden("tiny_mistral");
    let device = Default::default();
    let wrapper = Wrapper {
        decoder: load("tiny_mistral", DType::F32),
        temperature: Param::from_tensor(Tensor::<B, 1>::ones([1], &device)),
    }
    .to_device(&device);
    // Every weight is a parameter: embedding, 2 × (2 norms, q/k/v/o, gate/up/down), final
    // norm (the LM head is tied), and the wrapper's own.
    let config = &wrapper.decoder.config;
    let (h, v) = (config.hidden_size, config.vocab_size);
    let layer = 2 * h + 2 * h * 64 + 2 * h * 32 + 3 * h * config.intermediate_size;
    let tied_head = v * h;
    assert_eq!(
        wrapper.num_params(),
        v * h + 2 * layer + h + tied_head + 1,
        "the tied head counts as a parameter of its own"
    );
    let err = relative_error(&logits(&wrapper.decoder, &ids), &expected);
    assert!(err <= 1e-4, "relative error {err}");
}
