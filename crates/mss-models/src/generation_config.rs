//! `generation_config.json`: what a model folder says about generating, beside `config.json`.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::json_file::{parse_json, read_text, token_ids};
use crate::{ModelError, Result, TransformerConfig};

/// The generation settings of a model folder that `mss` uses: the tokens that end a
/// generation and the one that starts a sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerationConfig {
    /// Tokens that end a generation (`eos_token_id`: one id or a list).
    pub eos_token_ids: Vec<u32>,
    /// The token that starts a sequence, if named.
    pub bos_token_id: Option<u32>,
}

#[derive(Deserialize)]
struct HfGenerationConfig {
    eos_token_id: Option<Value>,
    bos_token_id: Option<u32>,
}

impl GenerationConfig {
    /// Reads `dir/generation_config.json`; a folder without one gives the empty default.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("generation_config.json");
        if !path.is_file() {
            return Ok(Self::default());
        }
        Self::from_json(&read_text(&path)?, &path)
    }

    /// Parses the text of a `generation_config.json`; `path` only names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let hf: HfGenerationConfig = parse_json(text, path)?;
        let eos_token_ids =
            token_ids(hf.eos_token_id.as_ref()).map_err(|reason| ModelError::ConfigInvalid {
                path: path.to_owned(),
                field: "eos_token_id",
                reason,
            })?;
        Ok(Self {
            eos_token_ids,
            bos_token_id: hf.bos_token_id,
        })
    }

    /// The tokens that end a generation: this file's, else `config.json`'s (as transformers'
    /// `generate` reads them).
    pub fn stop_tokens(&self, model: &TransformerConfig) -> Vec<u32> {
        if self.eos_token_ids.is_empty() {
            model.eos_token_ids.clone()
        } else {
            self.eos_token_ids.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GenerationConfig> {
        GenerationConfig::from_json(text, Path::new("generation_config.json"))
    }

    #[test]
    fn reads_one_id_or_a_list_and_falls_back_to_the_model_config() {
        let model = TransformerConfig::smollm2_135m();
        let one = parse(r#"{"bos_token_id": 1, "eos_token_id": 2}"#).unwrap();
        assert_eq!(one.eos_token_ids, [2]);
        assert_eq!(one.bos_token_id, Some(1));
        let list = parse(r#"{"eos_token_id": [128001, 128009], "do_sample": true}"#).unwrap();
        assert_eq!(list.stop_tokens(&model), [128001, 128009]);
        let none = parse(r#"{"temperature": 0.6}"#).unwrap();
        assert_eq!(none.stop_tokens(&model), model.eos_token_ids);
    }

    #[test]
    fn a_bad_id_or_bad_json_is_a_typed_error() {
        let bad_id = parse(r#"{"eos_token_id": "two"}"#).unwrap_err();
        assert!(
            matches!(
                bad_id,
                ModelError::ConfigInvalid {
                    field: "eos_token_id",
                    ..
                }
            ),
            "{bad_id}"
        );
        let bad_json = parse("{").unwrap_err();
        assert!(
            matches!(bad_json, ModelError::ConfigSyntax { .. }),
            "{bad_json}"
        );
    }

    #[test]
    fn a_folder_without_the_file_gives_the_default() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            GenerationConfig::from_dir(dir.path()).unwrap(),
            GenerationConfig::default()
        );
        std::fs::write(
            dir.path().join("generation_config.json"),
            r#"{"eos_token_id": 7}"#,
        )
        .unwrap();
        assert_eq!(
            GenerationConfig::from_dir(dir.path())
                .unwrap()
                .eos_token_ids,
            [7]
        );
    }
}
