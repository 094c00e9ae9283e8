//! Typed access to GGUF metadata: each getter names the key in its error when the key is
//! missing or holds the wrong type.

use super::file::GgufFile;
use super::value::MetadataValue;
use crate::error::{AssetError, Result};

impl GgufFile {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&MetadataValue> {
        self.index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// The value of `key`, or [`AssetError::MissingMetadata`].
    pub fn require(&self, key: &str) -> Result<&MetadataValue> {
        self.get(key).ok_or_else(|| self.missing(key))
    }

    fn missing(&self, key: &str) -> AssetError {
        AssetError::MissingMetadata {
            path: self.path.clone(),
            key: key.to_owned(),
        }
    }

    /// An [`AssetError::InvalidMetadata`] for `key`.
    pub(crate) fn invalid(&self, key: &str, reason: String) -> AssetError {
        AssetError::InvalidMetadata {
            path: self.path.clone(),
            key: key.to_owned(),
            reason,
        }
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        want: &str,
        f: impl FnOnce(&'a MetadataValue) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => f(v).map(Some).ok_or_else(|| {
                self.invalid(key, format!("expected {want}, found {}", describe(v)))
            }),
        }
    }

    /// `key` as a non-negative integer, `None` if absent.
    pub fn metadata_u64(&self, key: &str) -> Result<Option<u64>> {
        self.typed(key, "a non-negative integer", MetadataValue::as_u64)
    }

    /// `key` as a number, `None` if absent.
    pub fn metadata_f64(&self, key: &str) -> Result<Option<f64>> {
        self.typed(key, "a number", MetadataValue::as_f64)
    }

    /// `key` as a string, `None` if absent.
    pub fn metadata_str(&self, key: &str) -> Result<Option<&str>> {
        self.typed(key, "a string", MetadataValue::as_str)
    }

    /// `key` as a non-negative integer; absent is an error.
    pub fn require_u64(&self, key: &str) -> Result<u64> {
        self.metadata_u64(key)?.ok_or_else(|| self.missing(key))
    }

    /// `key` as a number; absent is an error.
    pub fn require_f64(&self, key: &str) -> Result<f64> {
        self.metadata_f64(key)?.ok_or_else(|| self.missing(key))
    }

    /// `key` as a string; absent is an error.
    pub fn require_str(&self, key: &str) -> Result<&str> {
        self.metadata_str(key)?.ok_or_else(|| self.missing(key))
    }

    /// `key` as an array of strings; absent is an error.
    pub fn require_str_array(&self, key: &str) -> Result<Vec<&str>> {
        let v = self.require(key)?;
        v.as_array()
            .and_then(|a| a.iter().map(MetadataValue::as_str).collect())
            .ok_or_else(|| {
                self.invalid(
                    key,
                    format!("expected an array of strings, found {}", describe(v)),
                )
            })
    }

    /// `key` as an array of integers; absent is an error.
    pub fn require_i64_array(&self, key: &str) -> Result<Vec<i64>> {
        let v = self.require(key)?;
        v.as_array()
            .and_then(|a| a.iter().map(MetadataValue::as_i64).collect())
            .ok_or_else(|| {
                self.invalid(
                    key,
                    format!("expected an array of integers, found {}", describe(v)),
                )
            })
    }
}

/// A value's type, and the element type of a non-empty array, for messages.
fn describe(v: &MetadataValue) -> String {
    match v {
        MetadataValue::Array(a) => match a.first() {
            Some(e) => format!("an array of {} ({} items)", e.type_name(), a.len()),
            None => "an empty array".to_owned(),
        },
        other => other.type_name().to_owned(),
    }
}
