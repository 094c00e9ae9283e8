//! Round trips of synthetic GGUF files through the reader, and its typed errors.

use super::*;
use crate::error::AssetError;

fn strings(items: &[&str]) -> MetadataValue {
    MetadataValue::Array(items.iter().map(|&s| s.into()).collect())
}

fn sample() -> GgufWriter {
    let mut w = GgufWriter::new();
    w.metadata("general.architecture", "llama")
        .metadata("llama.block_count", 2u32)
        .metadata("some.i64", -5i64)
        .metadata("some.f64", 0.25f64)
        .metadata("some.bool", true)
        .metadata("some.i8", -3i8)
        .metadata("tokenizer.ggml.tokens", strings(&["a", "b", "ü"]))
        .metadata(
            "nested",
            MetadataValue::Array(vec![MetadataValue::Array(vec![1u16.into(), 2u16.into()])]),
        )
        .tensor_f32("norm.weight", &[3], &[1.0, 2.0, 3.0])
        .tensor_f32("m.weight", &[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    w
}

#[test]
fn round_trip() {
    let bytes = sample().to_bytes();
    let f = GgufFile::from_bytes(bytes, "mem.gguf").unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.data_offset() % 32, 0);
    assert_eq!(f.require_str("general.architecture").unwrap(), "llama");
    assert_eq!(f.require_u64("llama.block_count").unwrap(), 2);
    assert_eq!(f.get("some.i64"), Some(&MetadataValue::I64(-5)));
    assert_eq!(f.require_f64("some.f64").unwrap(), 0.25);
    assert_eq!(f.get("some.bool"), Some(&MetadataValue::Bool(true)));
    assert_eq!(f.get("some.i8"), Some(&MetadataValue::I8(-3)));
    assert_eq!(
        f.require_str_array("tokenizer.ggml.tokens").unwrap(),
        ["a", "b", "ü"]
    );
    assert_eq!(
        f.get("nested").unwrap().as_array().unwrap()[0],
        MetadataValue::Array(vec![1u16.into(), 2u16.into()])
    );
    assert_eq!(f.metadata().len(), 8);
    let t = f.tensor("m.weight").unwrap().clone();
    assert_eq!(t.dims, [2, 3]);
    assert_eq!(t.shape(), [3, 2]);
    assert_eq!(t.n_elements, 6);
    assert_eq!(t.offset, 32); // the 12 bytes of norm.weight, padded to 32
    assert_eq!(f.dequantize(&t).unwrap(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let n = f.tensor("norm.weight").unwrap();
    assert_eq!(f.dequantize(n).unwrap(), [1.0, 2.0, 3.0]);
}

#[test]
fn custom_alignment_and_v2() {
    let mut w = sample();
    w.metadata(ALIGNMENT_KEY, 64u32);
    let mut bytes = w.to_bytes();
    bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    let f = GgufFile::from_bytes(bytes, "v2.gguf").unwrap();
    assert_eq!((f.version(), f.alignment()), (2, 64));
    assert_eq!(f.data_offset() % 64, 0);
    assert_eq!(f.tensor("m.weight").unwrap().offset, 64);
    assert_eq!(f.dequantize(f.tensor("m.weight").unwrap()).unwrap()[5], 5.0);
}

#[test]
fn opens_from_disk() {
    let t = crate::fsutil::tests::TestDir::new("gguf-open");
    let p = t.0.join("x.gguf");
    sample().write(&p).unwrap();
    let f = GgufFile::open(&p).unwrap();
    assert_eq!(f.path(), p);
    assert_eq!(f.tensors().len(), 2);
    // An empty file is not a GGUF file, and says so.
    std::fs::write(&p, b"").unwrap();
    assert!(matches!(
        GgufFile::open(&p),
        Err(AssetError::BadMagic { .. })
    ));
    assert!(matches!(
        GgufFile::open(t.0.join("missing.gguf")),
        Err(AssetError::Io { .. })
    ));
}

#[test]
fn bad_magic() {
    let mut bytes = sample().to_bytes();
    bytes[0] = b'X';
    match GgufFile::from_bytes(bytes, "bad.gguf") {
        Err(e @ AssetError::BadMagic { .. }) => assert!(e.to_string().contains("bad.gguf")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        GgufFile::from_bytes(b"GG".to_vec(), "short"),
        Err(AssetError::BadMagic { .. })
    ));
}

#[test]
fn unsupported_version() {
    for v in [1u32, 4, 3u32.swap_bytes()] {
        let mut bytes = sample().to_bytes();
        bytes[4..8].copy_from_slice(&v.to_le_bytes());
        assert!(matches!(
            GgufFile::from_bytes(bytes, "v"),
            Err(AssetError::UnsupportedGgufVersion { version, .. }) if version == v
        ));
    }
}

#[test]
fn truncated_anywhere_is_typed() {
    let bytes = sample().to_bytes();
    // Every prefix fails with a typed error and never panics.
    for cut in 0..bytes.len() {
        match GgufFile::from_bytes(bytes[..cut].to_vec(), "cut.gguf") {
            Err(AssetError::Truncated { .. } | AssetError::BadMagic { .. }) => {}
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn tensor_past_end_names_the_tensor() {
    let mut w = GgufWriter::new();
    w.tensor("big.weight", &[64], GgmlType::F32, vec![0; 16]);
    match GgufFile::from_bytes(w.to_bytes(), "t") {
        Err(AssetError::Truncated { what, .. }) => assert!(what.contains("big.weight")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn corrupt_layouts() {
    // Misaligned offset.
    let mut w = GgufWriter::new();
    w.tensor_f32("a", &[1], &[1.0]);
    let mut bytes = w.to_bytes();
    // header (24) + name (8 + 1) + n_dims (4) + dim (8) + type (4), then the offset.
    let pos = 24 + 9 + 4 + 8 + 4;
    assert_eq!(bytes[pos..pos + 8], 0u64.to_le_bytes());
    bytes[pos..pos + 8].copy_from_slice(&4u64.to_le_bytes());
    assert!(matches!(
        GgufFile::from_bytes(bytes, "t"),
        Err(AssetError::CorruptGguf { .. })
    ));
    // Q8_0 rows must be whole blocks.
    let mut w = GgufWriter::new();
    w.tensor("q", &[16], GgmlType::Q8_0, vec![0; 34]);
    assert!(matches!(
        GgufFile::from_bytes(w.to_bytes(), "t"),
        Err(AssetError::InvalidTensor { tensor, .. }) if tensor == "q"
    ));
    // Duplicate keys.
    let mut w = GgufWriter::new();
    w.metadata("k", 1u32).metadata("k", 2u32);
    assert!(matches!(
        GgufFile::from_bytes(w.to_bytes(), "t"),
        Err(AssetError::CorruptGguf { .. })
    ));
    // Bad alignment value.
    let mut w = GgufWriter::new();
    w.metadata(ALIGNMENT_KEY, 24u32);
    assert!(matches!(
        GgufFile::from_bytes(w.to_bytes(), "t"),
        Err(AssetError::InvalidMetadata { key, .. }) if key == ALIGNMENT_KEY
    ));
}

#[test]
fn unknown_type_reads_but_does_not_dequantize() {
    let mut w = GgufWriter::new();
    w.tensor("odd", &[4], GgmlType(200), vec![0; 4]);
    let f = GgufFile::from_bytes(w.to_bytes(), "t").unwrap();
    let t = f.tensor("odd").unwrap();
    assert_eq!(t.n_bytes, None);
    assert!(matches!(
        f.dequantize(t),
        Err(AssetError::UnsupportedQuantization { tensor, ggml_type })
            if tensor == "odd" && ggml_type == "type id 200"
    ));
}

#[test]
fn typed_metadata_errors() {
    let f = GgufFile::from_bytes(sample().to_bytes(), "m.gguf").unwrap();
    assert!(matches!(
        f.require_u64("llama.nope"),
        Err(AssetError::MissingMetadata { key, .. }) if key == "llama.nope"
    ));
    assert!(matches!(
        f.require_u64("general.architecture"),
        Err(AssetError::InvalidMetadata { key, .. }) if key == "general.architecture"
    ));
    assert!(matches!(
        f.require_u64("some.i64"),
        Err(AssetError::InvalidMetadata { .. })
    ));
    assert!(matches!(
        f.require_str_array("llama.block_count"),
        Err(AssetError::InvalidMetadata { .. })
    ));
    assert_eq!(f.metadata_u64("absent").unwrap(), None);
}
