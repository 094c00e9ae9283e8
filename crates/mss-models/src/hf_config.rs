//! The Hugging Face `config.json` of a Llama, Mistral or Qwen2 model (transformers v4 and v5
//! field names), read into a validated [`TransformerConfig`].

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::ModelError;
use crate::config::{Architecture, TransformerConfig};
use crate::json_file::{parse_json, read_text, token_ids};
use crate::rope::RopeScaling;

/// `config.json` as written by Hugging Face transformers (v4 and v5 field names).
#[derive(Debug, Deserialize)]
struct HfConfig {
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    max_position_embeddings: usize,
    rope_theta: Option<f64>,
    rope_scaling: Option<Value>,
    rope_parameters: Option<Value>,
    rms_norm_eps: f64,
    #[serde(default)]
    tie_word_embeddings: bool,
    sliding_window: Option<usize>,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    use_sliding_window: Option<bool>,
    hidden_act: Option<String>,
    eos_token_id: Option<Value>,
    bos_token_id: Option<u32>,
}

impl TransformerConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> crate::Result<Self> {
        if !path.is_file() {
            return Err(ModelError::NotFound {
                what: "config.json",
                path: path.to_owned(),
            });
        }
        Self::from_json(&read_text(path)?, path)
    }

    /// Parses and validates the text of a `config.json`; `path` only names it in errors.
    pub fn from_json(text: &str, path: &Path) -> crate::Result<Self> {
        parse_json::<HfConfig>(text, path)?.validate(path)
    }
}

impl HfConfig {
    fn validate(self, path: &Path) -> crate::Result<TransformerConfig> {
        let invalid = |field: &'static str, reason: String| ModelError::ConfigInvalid {
            path: PathBuf::from(path),
            field,
            reason,
        };
        let architecture = match self.model_type.as_deref() {
            Some("llama") | None => Architecture::Llama,
            Some("mistral") => Architecture::Mistral,
            Some("qwen2") => Architecture::Qwen2,
            Some(other) => {
                return Err(invalid(
                    "model_type",
                    format!("'{other}'; supported: llama, mistral, qwen2"),
                ));
            }
        };
        // Qwen2 writes a window it does not use unless `use_sliding_window` is set, and then
        // only on the layers from `max_window_layers` on.
        let sliding_window = match architecture {
            Architecture::Qwen2 if self.use_sliding_window == Some(true) => {
                return Err(invalid(
                    "use_sliding_window",
                    "a sliding window on some of Qwen2's layers is not supported".into(),
                ));
            }
            Architecture::Qwen2 => None,
            _ => self.sliding_window,
        };
        let (qkv_bias, o_bias) = match architecture {
            Architecture::Qwen2 => (true, false),
            _ => (self.attention_bias, self.attention_bias),
        };
        if let Some(act) = self.hidden_act.as_deref().filter(|a| *a != "silu") {
            return Err(invalid("hidden_act", format!("'{act}'; supported: silu")));
        }
        if self.num_attention_heads == 0 {
            return Err(invalid("num_attention_heads", "must be positive".into()));
        }
        // transformers v5 moves rope_theta and rope_scaling into rope_parameters.
        let rope_params = self.rope_parameters.as_ref();
        let rope_theta = self
            .rope_theta
            .or_else(|| {
                rope_params
                    .and_then(|p| p.get("rope_theta"))
                    .and_then(Value::as_f64)
            })
            .unwrap_or(10_000.0);
        let scaling = self.rope_scaling.as_ref().or(rope_params);
        let rope_scaling = RopeScaling::from_hf(scaling, self.max_position_embeddings)
            .map_err(|reason| invalid("rope_scaling", reason))?;
        let eos_token_ids =
            token_ids(self.eos_token_id.as_ref()).map_err(|e| invalid("eos_token_id", e))?;
        let config = TransformerConfig {
            architecture,
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_hidden_layers: self.num_hidden_layers,
            num_attention_heads: self.num_attention_heads,
            num_key_value_heads: self.num_key_value_heads.unwrap_or(self.num_attention_heads),
            head_dim: self
                .head_dim
                .unwrap_or(self.hidden_size / self.num_attention_heads),
            max_position_embeddings: self.max_position_embeddings,
            rope_theta,
            rope_scaling,
            rms_norm_eps: self.rms_norm_eps,
            tie_word_embeddings: self.tie_word_embeddings,
            sliding_window,
            qkv_bias,
            o_bias,
            mlp_bias: self.mlp_bias,
            eos_token_ids,
            bos_token_id: self.bos_token_id,
        };
        config
            .validate()
            .map_err(|(field, reason)| invalid(field, reason))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = r#"{
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
        "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
        "num_key_value_heads": 3, "head_dim": 64, "hidden_act": "silu",
        "max_position_embeddings": 8192, "rope_theta": 100000.0, "rope_scaling": null,
        "rms_norm_eps": 1e-05, "vocab_size": 49152, "tie_word_embeddings": true,
        "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": null, "torch_dtype": "float32"
    }"#;

    const MISTRAL_7B: &str = r#"{
        "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
        "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
        "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
        "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
        "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
        "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.34.0",
        "use_cache": true, "vocab_size": 32000
    }"#;

    /// Qwen2.5-0.5B-Instruct's `config.json` (abridged): a window it does not use.
    const QWEN2: &str = r#"{
        "architectures": ["Qwen2ForCausalLM"], "bos_token_id": 151643, "eos_token_id": 151645,
        "hidden_act": "silu", "hidden_size": 896, "intermediate_size": 4864,
        "max_position_embeddings": 32768, "max_window_layers": 21, "model_type": "qwen2",
        "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768,
        "tie_word_embeddings": true, "use_sliding_window": false, "vocab_size": 151936
    }"#;

    fn parse(text: &str) -> crate::Result<TransformerConfig> {
        TransformerConfig::from_json(text, Path::new("config.json"))
    }

    #[test]
    fn reads_smollm2() {
        let c = parse(SMOLLM2).unwrap();
        assert_eq!(c.architecture, Architecture::Llama);
        assert_eq!(
            (c.num_attention_heads, c.num_key_value_heads, c.head_dim),
            (9, 3, 64)
        );
        assert_eq!(c.rope_theta, 100_000.0);
        assert_eq!(c.rope_scaling, RopeScaling::None);
        assert!(c.tie_word_embeddings);
        assert_eq!(c.eos_token_ids, vec![2]);
        // The preset of the timing runs is the real model's configuration.
        assert_eq!(c, TransformerConfig::smollm2_135m());
    }

    #[test]
    fn reads_mistral_7b_v0_1() {
        let c = parse(MISTRAL_7B).unwrap();
        assert_eq!(c.architecture, Architecture::Mistral);
        assert_eq!(c.sliding_window, Some(4096));
        assert_eq!(c.head_dim, 128);
        assert_eq!(c.num_key_value_heads, 8);
        assert!(!c.tie_word_embeddings);
    }

    #[test]
    fn reads_transformers_v5_rope_parameters() {
        let text = SMOLLM2.replace(
            r#""rope_theta": 100000.0, "rope_scaling": null,"#,
            r#""rope_parameters": {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 500000.0},"#,
        );
        let c = parse(&text).unwrap();
        assert_eq!(c.rope_theta, 500_000.0);
        assert_eq!(
            c.rope_scaling,
            RopeScaling::Dynamic {
                factor: 2.0,
                original_max_position_embeddings: 8192
            }
        );
    }

    #[test]
    fn reads_llama3_scaling_and_eos_lists() {
        let text = SMOLLM2
            .replace(r#""rope_scaling": null"#, r#""rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}"#)
            .replace(r#""eos_token_id": 2"#, r#""eos_token_id": [2, 7]"#);
        let c = parse(&text).unwrap();
        assert!(matches!(c.rope_scaling, RopeScaling::Llama3 { factor, .. } if factor == 8.0));
        assert_eq!(c.eos_token_ids, vec![2, 7]);
    }

    #[test]
    fn malformed_json_is_a_typed_error() {
        let err = parse("{ not json").unwrap_err();
        assert!(matches!(err, ModelError::ConfigSyntax { .. }), "{err}");
    }

    #[test]
    fn missing_field_is_named() {
        let text = SMOLLM2.replace(r#""hidden_size": 576,"#, "");
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().contains("hidden_size"), "{err}");
    }

    #[test]
    fn inconsistent_heads_are_rejected() {
        let err =
            parse(&SMOLLM2.replace(r#""num_key_value_heads": 3"#, r#""num_key_value_heads": 4"#))
                .unwrap_err();
        assert!(
            matches!(
                err,
                ModelError::ConfigInvalid {
                    field: "num_key_value_heads",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn reads_qwen2_with_q_k_v_biases_and_no_window() {
        let c = parse(QWEN2).unwrap();
        assert_eq!(c.architecture, Architecture::Qwen2);
        assert_eq!((c.qkv_bias, c.o_bias, c.mlp_bias), (true, false, false));
        assert_eq!(c.sliding_window, None, "use_sliding_window is false");
        assert_eq!(c.head_dim, 64);
        let windowed = QWEN2.replace(
            r#""use_sliding_window": false"#,
            r#""use_sliding_window": true"#,
        );
        let err = parse(&windowed).unwrap_err().to_string();
        assert!(err.contains("use_sliding_window"), "{err}");
        // Llama's `attention_bias` puts a bias on all four projections.
        let biased = SMOLLM2.replace(r#""hidden_act""#, r#""attention_bias": true, "hidden_act""#);
        let c = parse(&biased).unwrap();
        assert_eq!((c.qkv_bias, c.o_bias), (true, true));
    }

    #[test]
    fn unknown_model_type_lists_the_supported_ones() {
        let err = parse(&SMOLLM2.replace(r#""model_type": "llama""#, r#""model_type": "gpt2""#))
            .unwrap_err();
        assert!(err.to_string().contains("llama, mistral, qwen2"), "{err}");
    }

    #[test]
    fn unknown_rope_type_is_rejected() {
        let text = SMOLLM2.replace(
            r#""rope_scaling": null"#,
            r#""rope_scaling": {"rope_type": "yarn", "factor": 4.0}"#,
        );
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().contains("yarn"), "{err}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = TransformerConfig::from_file(Path::new("/nonexistent/config.json")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/config.json"),
            "{err}"
        );
    }
}
