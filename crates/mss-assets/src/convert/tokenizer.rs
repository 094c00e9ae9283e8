//! `tokenizer.json` for a GGUF `gpt2` (byte-level BPE) vocabulary, laid out as the reference
//! converter writes it.

use serde::Serialize as DeriveSerialize;
use serde::ser::{Serialize, SerializeMap, Serializer};

/// GGUF token types that become added (special) tokens: CONTROL and USER_DEFINED.
const ADDED_TOKEN_TYPES: [i64; 2] = [3, 4];

/// Pre-tokenizer names (`tokenizer.ggml.pre`) that split digits one by one first.
const DIGIT_SPLITTING_PRE: [&str; 3] = ["smollm", "starcoder", "refact"];

/// The whole `tokenizer.json`.
#[derive(Debug, DeriveSerialize)]
pub(crate) struct TokenizerJson<'a> {
    version: &'static str,
    truncation: Option<()>,
    padding: Option<()>,
    added_tokens: Vec<AddedToken<'a>>,
    normalizer: Option<()>,
    pre_tokenizer: PreTokenizer,
    post_processor: ByteLevel,
    decoder: ByteLevel,
    model: Bpe<'a>,
}

#[derive(Debug, DeriveSerialize)]
struct AddedToken<'a> {
    id: usize,
    content: &'a str,
    single_word: bool,
    lstrip: bool,
    rstrip: bool,
    normalized: bool,
    special: bool,
}

#[derive(Debug, DeriveSerialize)]
struct ByteLevel {
    #[serde(rename = "type")]
    kind: &'static str,
    add_prefix_space: bool,
    trim_offsets: bool,
    use_regex: bool,
}

impl ByteLevel {
    fn new(add_prefix_space: bool, trim_offsets: bool) -> Self {
        Self {
            kind: "ByteLevel",
            add_prefix_space,
            trim_offsets,
            use_regex: true,
        }
    }
}

#[derive(Debug, DeriveSerialize)]
struct Digits {
    #[serde(rename = "type")]
    kind: &'static str,
    individual_digits: bool,
}

#[derive(Debug, DeriveSerialize)]
#[serde(untagged)]
enum PreTokenizer {
    ByteLevel(ByteLevel),
    Sequence {
        #[serde(rename = "type")]
        kind: &'static str,
        pretokenizers: (Digits, ByteLevel),
    },
}

#[derive(Debug, DeriveSerialize)]
struct Bpe<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    dropout: Option<()>,
    unk_token: Option<()>,
    continuing_subword_prefix: Option<()>,
    end_of_word_suffix: Option<()>,
    fuse_unk: bool,
    byte_fallback: bool,
    ignore_merges: bool,
    vocab: Vocab<'a>,
    merges: &'a [&'a str],
}

/// token → id in the order of a Python dict built by `{tok: i for i, tok in
/// enumerate(tokens)}`: first position of a token, last id.
#[derive(Debug)]
struct Vocab<'a>(Vec<(&'a str, usize)>);

impl<'a> Vocab<'a> {
    fn new(tokens: &[&'a str]) -> Self {
        let mut pos: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::with_capacity(tokens.len());
        let mut entries: Vec<(&str, usize)> = Vec::with_capacity(tokens.len());
        for (i, &t) in tokens.iter().enumerate() {
            match pos.get(t) {
                Some(&p) => entries[p].1 = i,
                None => {
                    pos.insert(t, entries.len());
                    entries.push((t, i));
                }
            }
        }
        Self(entries)
    }
}

impl Serialize for Vocab<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (t, i) in &self.0 {
            m.serialize_entry(t, i)?;
        }
        m.end()
    }
}

impl<'a> TokenizerJson<'a> {
    /// Builds it from the GGUF tokens, token types (same length), merges and `pre` name.
    pub(crate) fn new(
        tokens: &[&'a str],
        token_types: &[i64],
        merges: &'a [&'a str],
        pre: Option<&str>,
    ) -> Self {
        let added_tokens = tokens
            .iter()
            .zip(token_types)
            .enumerate()
            .filter(|(_, (_, ty))| ADDED_TOKEN_TYPES.contains(ty))
            .map(|(id, (content, _))| AddedToken {
                id,
                content,
                single_word: false,
                lstrip: false,
                rstrip: false,
                normalized: false,
                special: true,
            })
            .collect();
        let byte_level = ByteLevel::new(false, true);
        let pre_tokenizer = if pre.is_some_and(|p| DIGIT_SPLITTING_PRE.contains(&p)) {
            PreTokenizer::Sequence {
                kind: "Sequence",
                pretokenizers: (
                    Digits {
                        kind: "Digits",
                        individual_digits: true,
                    },
                    byte_level,
                ),
            }
        } else {
            PreTokenizer::ByteLevel(byte_level)
        };
        Self {
            version: "1.0",
            truncation: None,
            padding: None,
            added_tokens,
            normalizer: None,
            pre_tokenizer,
            post_processor: ByteLevel::new(true, false),
            decoder: ByteLevel::new(true, true),
            model: Bpe {
                kind: "BPE",
                dropout: None,
                unk_token: None,
                continuing_subword_prefix: None,
                end_of_word_suffix: None,
                fuse_unk: false,
                byte_fallback: false,
                ignore_merges: false,
                vocab: Vocab::new(tokens),
                merges,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pyjson::PyJson;

    fn dump<T: Serialize>(v: &T) -> String {
        let opts = PyJson {
            indent: false,
            ensure_ascii: false,
        };
        String::from_utf8(opts.to_vec(v).unwrap()).unwrap()
    }

    #[test]
    fn vocab_keeps_python_dict_semantics() {
        let v = Vocab::new(&["a", "b", "a", "c"]);
        assert_eq!(dump(&v), r#"{"a": 2, "b": 1, "c": 3}"#);
    }

    #[test]
    fn layout_matches_the_reference() {
        let tokens = ["<s>", "a", "b", "ab"];
        let merges = ["a b"];
        let t = TokenizerJson::new(&tokens, &[3, 1, 1, 1], &merges, Some("smollm"));
        let got = dump(&t);
        // json.dumps of the reference's dict for the same input, ensure_ascii=False.
        let want = concat!(
            r#"{"version": "1.0", "truncation": null, "padding": null, "added_tokens": "#,
            r#"[{"id": 0, "content": "<s>", "single_word": false, "lstrip": false, "#,
            r#""rstrip": false, "normalized": false, "special": true}], "normalizer": null, "#,
            r#""pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "#,
            r#""individual_digits": true}, {"type": "ByteLevel", "add_prefix_space": false, "#,
            r#""trim_offsets": true, "use_regex": true}]}, "post_processor": {"type": "#,
            r#""ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": "#,
            r#"true}, "decoder": {"type": "ByteLevel", "add_prefix_space": true, "#,
            r#""trim_offsets": true, "use_regex": true}, "model": {"type": "BPE", "#,
            r#""dropout": null, "unk_token": null, "continuing_subword_prefix": null, "#,
            r#""end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "#,
            r#""ignore_merges": false, "vocab": {"<s>": 0, "a": 1, "b": 2, "ab": 3}, "#,
            r#""merges": ["a b"]}}"#
        );
        assert_eq!(got, want);
    }

    #[test]
    fn plain_byte_level_for_other_pre() {
        let t = TokenizerJson::new(&["a"], &[1], &[], Some("llama-bpe"));
        assert!(dump(&t).contains(
            r#""pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}"#
        ));
        let t = TokenizerJson::new(&["a"], &[4], &[], None);
        assert!(dump(&t).contains(r#""added_tokens": [{"id": 0, "content": "a""#));
    }
}
