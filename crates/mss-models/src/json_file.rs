//! The model folder's JSON files, read with errors that name the file.

use std::path::Path;

use serde_json::Value;

use crate::ModelError;

/// The text of a file of the model folder.
pub(crate) fn read_text(path: &Path) -> crate::Result<String> {
    std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_owned(),
        source,
    })
}

/// A JSON config file's text as `T`; `path` only names it in errors.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> crate::Result<T> {
    serde_json::from_str(text).map_err(|source| ModelError::ConfigSyntax {
        path: path.to_owned(),
        source,
    })
}

/// Token ids given as one id, a list of ids or `null` (Hugging Face's `eos_token_id`).
pub(crate) fn token_ids(value: Option<&Value>) -> std::result::Result<Vec<u32>, String> {
    let id = |v: &Value| {
        v.as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| format!("{v} is not a token id"))
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(ids)) => ids.iter().map(id).collect(),
        Some(one) => id(one).map(|id| vec![id]),
    }
}
