//! A bounds-checked little-endian reader over the bytes of a GGUF file: every read past the
//! end is an [`AssetError::Truncated`] naming what was being read.

use std::path::Path;

use super::value::{MetadataValue, type_id};
use crate::error::{AssetError, Result};

/// How deep arrays of arrays may nest.
const MAX_ARRAY_DEPTH: usize = 8;

/// Reads GGUF primitives from a byte slice, keeping the position.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`; `path` names the file in errors.
    pub(crate) fn new(buf: &'a [u8], path: &'a Path) -> Self {
        Self { buf, pos: 0, path }
    }

    /// The current position.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left after the position.
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The error for needing `n` bytes from the position.
    pub(crate) fn truncated(&self, what: &str, n: u64) -> AssetError {
        AssetError::Truncated {
            path: self.path.to_path_buf(),
            what: what.to_owned(),
            start: self.pos as u64,
            end: (self.pos as u64).saturating_add(n),
            len: self.buf.len() as u64,
        }
    }

    /// An [`AssetError::CorruptGguf`] for this file.
    pub(crate) fn corrupt(&self, reason: String) -> AssetError {
        AssetError::CorruptGguf {
            path: self.path.to_path_buf(),
            reason,
        }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => {
                let s = &self.buf[self.pos..self.pos + n];
                self.pos += n;
                Ok(s)
            }
            _ => Err(self.truncated(what, n)),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// A little-endian u32.
    pub(crate) fn u32(&mut self, what: &str) -> Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    /// A little-endian u64.
    pub(crate) fn u64(&mut self, what: &str) -> Result<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A length-prefixed UTF-8 string.
    pub(crate) fn string(&mut self, what: &str) -> Result<String> {
        let n = self.u64(what)?;
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|e| self.corrupt(format!("{what} is not valid UTF-8: {e}")))
    }

    /// A value of GGUF type `ty`; `what` names it (the key) in errors.
    pub(crate) fn value(&mut self, ty: u32, what: &str) -> Result<MetadataValue> {
        self.value_at_depth(ty, what, 0)
    }

    fn value_at_depth(&mut self, ty: u32, what: &str, depth: usize) -> Result<MetadataValue> {
        use MetadataValue as V;
        use type_id as t;
        Ok(match ty {
            t::U8 => V::U8(u8::from_le_bytes(self.array(what)?)),
            t::I8 => V::I8(i8::from_le_bytes(self.array(what)?)),
            t::U16 => V::U16(u16::from_le_bytes(self.array(what)?)),
            t::I16 => V::I16(i16::from_le_bytes(self.array(what)?)),
            t::U32 => V::U32(self.u32(what)?),
            t::I32 => V::I32(i32::from_le_bytes(self.array(what)?)),
            t::F32 => V::F32(f32::from_le_bytes(self.array(what)?)),
            t::U64 => V::U64(self.u64(what)?),
            t::I64 => V::I64(i64::from_le_bytes(self.array(what)?)),
            t::F64 => V::F64(f64::from_le_bytes(self.array(what)?)),
            t::BOOL => match self.array::<1>(what)?[0] {
                0 => V::Bool(false),
                1 => V::Bool(true),
                b => return Err(self.corrupt(format!("{what}: bool byte {b} is not 0 or 1"))),
            },
            t::STRING => V::String(self.string(what)?),
            t::ARRAY => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(self.corrupt(format!("{what}: arrays nested too deep")));
                }
                let elem = self.u32(what)?;
                let len = self.u64(what)?;
                // Refuse lengths the rest of the file cannot hold before allocating.
                let min = min_encoded_size(elem)
                    .ok_or_else(|| self.corrupt(format!("{what}: unknown value type {elem}")))?;
                if len.saturating_mul(min) > self.remaining() as u64 {
                    return Err(self.truncated(what, len.saturating_mul(min)));
                }
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(self.value_at_depth(elem, what, depth + 1)?);
                }
                V::Array(items)
            }
            other => return Err(self.corrupt(format!("{what}: unknown value type {other}"))),
        })
    }
}

/// The fewest bytes one value of type `ty` takes in the file.
fn min_encoded_size(ty: u32) -> Option<u64> {
    use type_id as t;
    Some(match ty {
        t::U8 | t::I8 | t::BOOL => 1,
        t::U16 | t::I16 => 2,
        t::U32 | t::I32 | t::F32 => 4,
        t::U64 | t::I64 | t::F64 | t::STRING => 8,
        t::ARRAY => 12,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_end_are_typed() {
        let p = Path::new("x.gguf");
        let mut c = Cursor::new(&[1, 0, 0], p);
        assert!(matches!(
            c.u32("version"),
            Err(AssetError::Truncated {
                start: 0,
                end: 4,
                len: 3,
                ..
            })
        ));
        // A huge string length neither allocates nor panics.
        let mut b = u64::MAX.to_le_bytes().to_vec();
        b.extend_from_slice(b"abc");
        let mut c = Cursor::new(&b, p);
        assert!(matches!(c.string("key"), Err(AssetError::Truncated { .. })));
    }

    #[test]
    fn huge_array_is_refused_before_allocating() {
        let mut b = type_id::U64.to_le_bytes().to_vec();
        b.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
        let mut c = Cursor::new(&b, Path::new("x"));
        assert!(matches!(
            c.value(type_id::ARRAY, "k"),
            Err(AssetError::Truncated { .. })
        ));
    }

    #[test]
    fn bad_bool_and_type_are_corrupt() {
        let mut c = Cursor::new(&[2], Path::new("x"));
        assert!(matches!(
            c.value(type_id::BOOL, "k"),
            Err(AssetError::CorruptGguf { .. })
        ));
        let mut c = Cursor::new(&[0; 8], Path::new("x"));
        assert!(matches!(
            c.value(77, "k"),
            Err(AssetError::CorruptGguf { .. })
        ));
    }
}
