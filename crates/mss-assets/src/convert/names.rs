//! GGUF tensor names to Hugging Face (transformers Llama) names.

use crate::error::{AssetError, Result};

/// `blk.N.<kind>` suffixes and their Hugging Face module paths under `model.layers.N`.
const LAYER_NAMES: &[(&str, &str)] = &[
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
    ("attn_norm", "input_layernorm"),
    ("ffn_norm", "post_attention_layernorm"),
];

/// The Hugging Face name of GGUF tensor `name`, e.g. `blk.3.attn_q.weight` →
/// `model.layers.3.self_attn.q_proj.weight`.
pub fn hf_tensor_name(name: &str) -> Result<String> {
    let unknown = || AssetError::UnknownTensorName {
        tensor: name.to_owned(),
    };
    match name {
        "token_embd.weight" => return Ok("model.embed_tokens.weight".to_owned()),
        "output_norm.weight" => return Ok("model.norm.weight".to_owned()),
        "output.weight" => return Ok("lm_head.weight".to_owned()),
        _ => {}
    }
    let parts: Vec<&str> = name.split('.').collect();
    let [blk, layer, kind, param] = parts[..] else {
        return Err(unknown());
    };
    if blk != "blk" || layer.is_empty() || !layer.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unknown());
    }
    let (_, hf) = LAYER_NAMES
        .iter()
        .find(|(k, _)| *k == kind)
        .ok_or_else(unknown)?;
    Ok(format!("model.layers.{layer}.{hf}.{param}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_like_the_reference() {
        let cases = [
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("output_norm.weight", "model.norm.weight"),
            ("output.weight", "lm_head.weight"),
            (
                "blk.0.attn_q.weight",
                "model.layers.0.self_attn.q_proj.weight",
            ),
            (
                "blk.12.attn_k.weight",
                "model.layers.12.self_attn.k_proj.weight",
            ),
            (
                "blk.1.attn_v.weight",
                "model.layers.1.self_attn.v_proj.weight",
            ),
            (
                "blk.1.attn_output.weight",
                "model.layers.1.self_attn.o_proj.weight",
            ),
            (
                "blk.2.ffn_gate.weight",
                "model.layers.2.mlp.gate_proj.weight",
            ),
            ("blk.2.ffn_up.weight", "model.layers.2.mlp.up_proj.weight"),
            (
                "blk.2.ffn_down.weight",
                "model.layers.2.mlp.down_proj.weight",
            ),
            (
                "blk.29.attn_norm.weight",
                "model.layers.29.input_layernorm.weight",
            ),
            (
                "blk.29.ffn_norm.weight",
                "model.layers.29.post_attention_layernorm.weight",
            ),
            ("blk.0.attn_q.bias", "model.layers.0.self_attn.q_proj.bias"),
        ];
        for (g, h) in cases {
            assert_eq!(hf_tensor_name(g).unwrap(), h);
        }
    }

    #[test]
    fn unknown_names_are_typed_errors() {
        for bad in [
            "rope_freqs.weight",
            "blk.0.attn_qkv.weight",
            "blk.x.attn_q.weight",
            "blk.0",
        ] {
            assert!(matches!(
                hf_tensor_name(bad),
                Err(AssetError::UnknownTensorName { tensor }) if tensor == bad
            ));
        }
    }
}
