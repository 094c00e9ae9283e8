//! The model's tokenizer, read from `tokenizer.json` offline.

use std::path::{Path, PathBuf};

use crate::{ModelError, Result};

/// A Hugging Face `tokenizer.json`, loaded without network access.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("path", &self.path)
            .finish()
    }
}

impl Tokenizer {
    /// Reads `tokenizer.json` from a model folder.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        Self::from_file(&dir.join("tokenizer.json"))
    }

    /// Reads a `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(ModelError::NotFound {
                what: "tokenizer.json",
                path: path.to_owned(),
            });
        }
        let text = crate::json_file::read_text(path)?;
        // The tokenizers crate panics on some malformed files (a syntax error inside the
        // decoder, found by fuzzing): the JSON is checked first, and a panic left in the crate
        // becomes this error too.
        serde_json::from_str::<serde_json::Value>(&text).map_err(|e| self::error(path, e))?;
        let inner = std::panic::catch_unwind(|| text.parse::<tokenizers::Tokenizer>())
            .map_err(|_| self::error(path, "the tokenizers crate could not read it"))?
            .map_err(|e| self::error(path, e))?;
        Ok(Self {
            inner,
            path: path.to_owned(),
        })
    }

    /// Token ids of `text`; `special` adds the tokenizer's special tokens (e.g. a BOS).
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, special)
            .map_err(|e| error(&self.path, e))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| error(&self.path, e))
    }

    /// The id of a token string, if the vocabulary has it.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// A decoder that turns ids into text one at a time, for streaming output.
    pub fn stream(&self) -> TextStream<'_> {
        TextStream {
            tokenizer: self,
            ids: Vec::new(),
            emitted: 0,
        }
    }
}

/// Incremental decoding: [`TextStream::push`] returns the text that the new id completes.
/// Byte-level BPE can split one character over several tokens, so text is released only once it
/// no longer ends in an incomplete character.
#[derive(Debug)]
pub struct TextStream<'a> {
    tokenizer: &'a Tokenizer,
    ids: Vec<u32>,
    emitted: usize,
}

impl TextStream<'_> {
    /// Adds one id and returns the newly completed text (possibly empty).
    pub fn push(&mut self, id: u32) -> Result<String> {
        self.ids.push(id);
        let text = self.tokenizer.decode(&self.ids)?;
        if text.ends_with('\u{FFFD}')
            || text.len() < self.emitted
            || !text.is_char_boundary(self.emitted)
        {
            return Ok(String::new());
        }
        let new = text[self.emitted..].to_owned();
        self.emitted = text.len();
        Ok(new)
    }
}

fn error(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}
