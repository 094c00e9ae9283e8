//! A tiny synthetic llama GGUF (every supported tensor type) through the converter, and the
//! converter's typed errors.

use std::collections::HashMap;

use half::f16;

use super::*;
use crate::fsutil::tests::TestDir;
use crate::gguf::{GgmlType, GgufWriter, MetadataValue, dequantize};

const HIDDEN: u64 = 32;
const N_HEAD: u32 = 2;
const N_KV: u32 = 1;
const KV_DIM: u64 = HIDDEN / N_HEAD as u64 * N_KV as u64;

fn strings(items: &[&str]) -> MetadataValue {
    MetadataValue::Array(items.iter().map(|&s| s.into()).collect())
}

fn f16_bytes(values: impl Iterator<Item = f32>) -> Vec<u8> {
    values
        .flat_map(|v| f16::from_f32(v).to_le_bytes())
        .collect()
}

/// Q8_0 rows of 32 where value j of row r is `0.5 * (j - r)`.
fn q8_rows(rows: u64) -> Vec<u8> {
    let mut b = Vec::new();
    for r in 0..rows {
        b.extend(f16::from_f32(0.5).to_le_bytes());
        b.extend((0..32).map(|j| (j as i8 - r as i8) as u8));
    }
    b
}

/// Q4_1 blocks with d = 1/8, m = -1 and nibbles counting up.
fn q4_1_blocks(n: u64) -> Vec<u8> {
    let mut b = Vec::new();
    for k in 0..n {
        b.extend(f16::from_f32(0.125).to_le_bytes());
        b.extend(f16::from_f32(-1.0).to_le_bytes());
        b.extend((0..16).map(|j| ((j + k as u8) & 0x0F) | ((15 - j) << 4)));
    }
    b
}

/// Q4_0 blocks with d = 0.25.
fn q4_0_blocks(n: u64) -> Vec<u8> {
    let mut b = Vec::new();
    for k in 0..n {
        b.extend(f16::from_f32(0.25).to_le_bytes());
        b.extend((0..16u8).map(|j| j.wrapping_mul(17) ^ k as u8));
    }
    b
}

pub(crate) fn tiny() -> GgufWriter {
    let h = HIDDEN;
    let mut w = GgufWriter::new();
    w.metadata("general.architecture", "llama")
        .metadata("llama.block_count", 1u32)
        .metadata("llama.context_length", 256u32)
        .metadata("llama.embedding_length", h as u32)
        .metadata("llama.feed_forward_length", 64u32)
        .metadata("llama.attention.head_count", N_HEAD)
        .metadata("llama.attention.head_count_kv", N_KV)
        .metadata("llama.rope.freq_base", 100000.0f32)
        .metadata("llama.attention.layer_norm_rms_epsilon", 1e-5f32)
        .metadata("tokenizer.ggml.model", "gpt2")
        .metadata("tokenizer.ggml.pre", "smollm")
        .metadata(
            "tokenizer.ggml.tokens",
            strings(&["<|endoftext|>", "<|im_start|>", "a", "b", "ab", "é"]),
        )
        .metadata(
            "tokenizer.ggml.token_type",
            MetadataValue::Array([3i32, 3, 1, 1, 1, 1].iter().map(|&t| t.into()).collect()),
        )
        .metadata("tokenizer.ggml.merges", strings(&["a b"]))
        .metadata("tokenizer.ggml.bos_token_id", 1u32)
        .metadata("tokenizer.ggml.eos_token_id", 0u32)
        .metadata("tokenizer.chat_template", "{{ messages }} ü")
        .tensor("token_embd.weight", &[h, 6], GgmlType::Q8_0, q8_rows(6))
        .tensor_f32("blk.0.attn_norm.weight", &[h], &vec![1.5; h as usize])
        .tensor(
            "blk.0.attn_q.weight",
            &[h, h],
            GgmlType::Q4_1,
            q4_1_blocks(h),
        )
        .tensor(
            "blk.0.attn_k.weight",
            &[h, KV_DIM],
            GgmlType::F16,
            f16_bytes((0..KV_DIM * h).map(|i| (i / h) as f32)),
        )
        .tensor(
            "blk.0.attn_v.weight",
            &[h, KV_DIM],
            GgmlType::BF16,
            (0..KV_DIM * h)
                .flat_map(|i| ((((i % 7) as f32 - 3.0).to_bits() >> 16) as u16).to_le_bytes())
                .collect(),
        )
        .tensor_f32(
            "blk.0.attn_output.weight",
            &[h, h],
            &(0..h * h).map(|i| i as f32 * 0.01).collect::<Vec<_>>(),
        )
        .tensor(
            "blk.0.ffn_gate.weight",
            &[h, 64],
            GgmlType::Q4_0,
            q4_0_blocks(64),
        )
        .tensor("blk.0.ffn_up.weight", &[h, 64], GgmlType::Q8_0, q8_rows(64))
        .tensor(
            "blk.0.ffn_down.weight",
            &[64, h],
            GgmlType::Q4_1,
            q4_1_blocks(64),
        )
        .tensor_f32("blk.0.ffn_norm.weight", &[h], &vec![0.5; h as usize])
        .tensor_f32("output_norm.weight", &[h], &vec![2.0; h as usize]);
    w
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn convert(w: &GgufWriter, tag: &str, dtype: OutputDtype) -> (TestDir, Result<ConvertSummary>) {
    let t = TestDir::new(tag);
    let src = t.0.join("m.gguf");
    w.write(&src).unwrap();
    let r = convert_gguf_to_hf(&src, t.0.join("hf"), dtype);
    (t, r)
}

#[test]
fn tiny_model_round_trip() {
    let (t, r) = convert(&tiny(), "convert-tiny", OutputDtype::F32);
    let s = r.unwrap();
    assert_eq!(s.tensor_count, 11);
    assert!(s.tied_embeddings);
    assert_eq!(s.architecture, Architecture::Llama);
    let hf = t.0.join("hf");
    for f in HF_FILES {
        assert!(hf.join(f).is_file(), "{f}");
    }
    // Only the finished folder and the source are left.
    assert_eq!(std::fs::read_dir(&t.0).unwrap().count(), 2);

    let bytes = std::fs::read(hf.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let get = |n: &str| {
        let v = st.tensor(n).unwrap();
        assert_eq!(v.dtype(), safetensors::Dtype::F32);
        let vals: Vec<f32> = v
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (v.shape().to_vec(), vals)
    };
    let (shape, emb) = get("model.embed_tokens.weight");
    assert_eq!(shape, [6, 32]);
    assert_eq!(emb[32 + 3], 0.5 * (3.0 - 1.0)); // row 1, column 3
    // k: row r of the GGUF holds r everywhere; one KV head of 16 rows -> evens then odds.
    let (shape, k) = get("model.layers.0.self_attn.k_proj.weight");
    assert_eq!(shape, [16, 32]);
    let first_col: Vec<f32> = (0..16).map(|r| k[r * 32]).collect();
    let want: Vec<f32> = [0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15]
        .iter()
        .map(|&r| r as f32)
        .collect();
    assert_eq!(first_col, want);
    // q: dequantized Q4_1 then un-permuted with 2 heads.
    let (shape, q) = get("model.layers.0.self_attn.q_proj.weight");
    assert_eq!(shape, [32, 32]);
    let raw = dequantize(GgmlType::Q4_1, &q4_1_blocks(32), "q").unwrap();
    assert_eq!(q, reverse_permute(&raw, 32, 32, 2, "q").unwrap());
    let (_, v) = get("model.layers.0.self_attn.v_proj.weight");
    assert_eq!(&v[..8], &[-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, -3.0]);
    let (shape, gate) = get("model.layers.0.mlp.gate_proj.weight");
    assert_eq!(shape, [64, 32]);
    assert_eq!(
        gate,
        dequantize(GgmlType::Q4_0, &q4_0_blocks(64), "g").unwrap()
    );
    let (shape, down) = get("model.layers.0.mlp.down_proj.weight");
    assert_eq!(shape, [32, 64]);
    assert_eq!(down[..2], [-1.0, -0.875]);
    assert_eq!(get("model.norm.weight").1, vec![2.0; 32]);
    assert_eq!(
        get("model.layers.0.post_attention_layernorm.weight").0,
        [32]
    );
    assert_eq!(st.len(), 11);

    let cfg = read_json(&hf.join("config.json"));
    assert_eq!(cfg["architectures"][0], "LlamaForCausalLM");
    assert_eq!(cfg["head_dim"], 16);
    assert_eq!(cfg["num_key_value_heads"], 1);
    assert_eq!(cfg["rms_norm_eps"], 1e-5);
    assert_eq!(cfg["rope_theta"], 100000.0);
    assert_eq!(cfg["vocab_size"], 6);
    assert_eq!(cfg["pad_token_id"], serde_json::Value::Null);
    assert_eq!(cfg["tie_word_embeddings"], true);
    let text = std::fs::read_to_string(hf.join("config.json")).unwrap();
    assert!(text.contains("\n  \"rms_norm_eps\": 1e-05,\n"), "{text}");
    assert!(text.contains("\n  \"rope_theta\": 100000.0,\n"), "{text}");

    let tcfg = read_json(&hf.join("tokenizer_config.json"));
    assert_eq!(tcfg["bos_token"], "<|im_start|>");
    assert_eq!(tcfg["eos_token"], "<|endoftext|>");
    assert_eq!(tcfg["unk_token"], "<|endoftext|>");
    assert_eq!(tcfg["pad_token"], serde_json::Value::Null);
    assert_eq!(tcfg["chat_template"], "{{ messages }} ü");
    let raw = std::fs::read_to_string(hf.join("tokenizer_config.json")).unwrap();
    assert!(
        raw.contains(r#""{{ messages }} \u00fc""#),
        "ensure_ascii: {raw}"
    );

    let tok = read_json(&hf.join("tokenizer.json"));
    assert_eq!(tok["added_tokens"].as_array().unwrap().len(), 2);
    assert_eq!(tok["model"]["vocab"]["é"], 5);
    assert_eq!(tok["model"]["merges"][0], "a b");
    let raw = std::fs::read_to_string(hf.join("tokenizer.json")).unwrap();
    assert!(raw.contains("\"é\": 5"), "not ensure_ascii");
    let gen_cfg = read_json(&hf.join("generation_config.json"));
    assert_eq!(
        gen_cfg,
        serde_json::json!({"bos_token_id": 1, "eos_token_id": 0})
    );
}

#[test]
fn half_precision_outputs() {
    for (dtype, st_dtype, name) in [
        (OutputDtype::F16, safetensors::Dtype::F16, "float16"),
        (OutputDtype::BF16, safetensors::Dtype::BF16, "bfloat16"),
    ] {
        let (t, r) = convert(&tiny(), "convert-half", dtype);
        assert_eq!(r.unwrap().dtype, dtype);
        let hf = t.0.join("hf");
        let bytes = std::fs::read(hf.join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let v = st.tensor("model.norm.weight").unwrap();
        assert_eq!(v.dtype(), st_dtype);
        let two = match dtype {
            OutputDtype::BF16 => half::bf16::from_f32(2.0).to_le_bytes(),
            _ => f16::from_f32(2.0).to_le_bytes(),
        };
        assert_eq!(&v.data()[..2], &two);
        assert_eq!(read_json(&hf.join("config.json"))["torch_dtype"], name);
    }
}

/// Rewrites one metadata entry (or drops it with `None`).
fn with_meta(key: &str, value: Option<MetadataValue>) -> GgufWriter {
    let base = tiny().to_bytes();
    let g = GgufFile::from_bytes(base, "x").unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in g.metadata() {
        if k == key {
            if let Some(v) = &value {
                w.metadata(k, v.clone());
            }
        } else {
            w.metadata(k, v.clone());
        }
    }
    let tensors: HashMap<_, _> = g.tensors().iter().map(|t| (t.name.clone(), t)).collect();
    for t in g.tensors() {
        let data = g.tensor_bytes(tensors[&t.name]).unwrap().to_vec();
        w.tensor(&t.name, &t.dims, t.ggml_type, data);
    }
    w
}

#[test]
fn unsupported_architecture() {
    let w = with_meta("general.architecture", Some("qwen2".into()));
    let (t, r) = convert(&w, "convert-arch", OutputDtype::F32);
    match r {
        Err(AssetError::UnsupportedArchitecture { architecture, .. }) => {
            assert_eq!(architecture, "qwen2")
        }
        other => panic!("{other:?}"),
    }
    // Nothing but the source is left.
    assert_eq!(std::fs::read_dir(&t.0).unwrap().count(), 1);
}

#[test]
fn missing_metadata_key() {
    for key in [
        "llama.attention.head_count",
        "llama.attention.layer_norm_rms_epsilon",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.eos_token_id",
        "general.architecture",
    ] {
        let (_t, r) = convert(&with_meta(key, None), "convert-missing", OutputDtype::F32);
        match r {
            Err(AssetError::MissingMetadata { key: k, .. }) => assert_eq!(k, key),
            other => panic!("{key}: {other:?}"),
        }
    }
}

#[test]
fn optional_metadata_defaults() {
    // Without head_count_kv, freq_base and vocab_size the reference's defaults apply.
    let w = with_meta("llama.attention.head_count_kv", None);
    let (t, r) = convert(&w, "convert-defaults", OutputDtype::F32);
    // K has 16 rows, which 2 heads of rotary pairs do divide.
    r.unwrap();
    let cfg = read_json(&t.0.join("hf/config.json"));
    assert_eq!(cfg["num_key_value_heads"], 2);
    let w = with_meta("llama.rope.freq_base", None);
    let (t, r) = convert(&w, "convert-defaults", OutputDtype::F32);
    r.unwrap();
    assert_eq!(
        read_json(&t.0.join("hf/config.json"))["rope_theta"],
        10000.0
    );
}

#[test]
fn bad_metadata_values() {
    let w = with_meta("tokenizer.ggml.bos_token_id", Some(99u32.into()));
    let (_t, r) = convert(&w, "convert-bos", OutputDtype::F32);
    assert!(
        matches!(r, Err(AssetError::InvalidMetadata { key, .. }) if key == "tokenizer.ggml.bos_token_id")
    );
    let w = with_meta("llama.attention.head_count", Some("nine".into()));
    let (_t, r) = convert(&w, "convert-heads", OutputDtype::F32);
    assert!(matches!(r, Err(AssetError::InvalidMetadata { .. })));
    let w = with_meta("tokenizer.ggml.model", Some("llama".into()));
    let (_t, r) = convert(&w, "convert-tok", OutputDtype::F32);
    assert!(matches!(r, Err(AssetError::UnsupportedTokenizer { model, .. }) if model == "llama"));
}

#[test]
fn unsupported_quantization_names_the_tensor() {
    let mut w = tiny();
    w.tensor(
        "blk.0.attn_extra.weight",
        &[32],
        GgmlType::F32,
        vec![0; 128],
    );
    let (_t, r) = convert(&w, "convert-name", OutputDtype::F32);
    assert!(
        matches!(r, Err(AssetError::UnknownTensorName { tensor }) if tensor == "blk.0.attn_extra.weight")
    );

    let mut w = GgufWriter::new();
    let base = GgufFile::from_bytes(tiny().to_bytes(), "x").unwrap();
    for (k, v) in base.metadata() {
        w.metadata(k, v.clone());
    }
    // Q4_K (id 12): 256 values in 144 bytes.
    w.tensor("blk.0.ffn_up.weight", &[256], GgmlType(12), vec![0; 144]);
    let (_t, r) = convert(&w, "convert-quant", OutputDtype::F32);
    match r {
        Err(AssetError::UnsupportedQuantization { tensor, ggml_type }) => {
            assert_eq!(tensor, "blk.0.ffn_up.weight");
            assert_eq!(ggml_type, "Q4_K");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn refuses_to_overwrite_a_folder() {
    let t = TestDir::new("convert-exists");
    let src = t.0.join("m.gguf");
    tiny().write(&src).unwrap();
    let out = t.0.join("hf");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), b"mine").unwrap();
    assert!(matches!(
        convert_gguf_to_hf(&src, &out, OutputDtype::F32),
        Err(AssetError::OutputExists { .. })
    ));
    assert_eq!(std::fs::read(out.join("keep.txt")).unwrap(), b"mine");
    // An empty folder is fine.
    std::fs::remove_file(out.join("keep.txt")).unwrap();
    convert_gguf_to_hf(&src, &out, OutputDtype::F32).unwrap();
}

#[test]
fn corrupt_source_is_typed() {
    let t = TestDir::new("convert-corrupt");
    let src = t.0.join("m.gguf");
    let bytes = tiny().to_bytes();
    std::fs::write(&src, &bytes[..bytes.len() - 10]).unwrap();
    assert!(matches!(
        convert_gguf_to_hf(&src, t.0.join("hf"), OutputDtype::F32),
        Err(AssetError::Truncated { .. })
    ));
    std::fs::write(&src, b"GGML....").unwrap();
    assert!(matches!(
        convert_gguf_to_hf(&src, t.0.join("hf"), OutputDtype::F32),
        Err(AssetError::BadMagic { .. })
    ));
    assert!(!t.0.join("hf").exists());
}
