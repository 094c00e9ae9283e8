//! Fuzzing the GGUF reader (issue 14): arbitrary bytes, and mutations of a valid file (flipped
//! bytes, truncations, huge counts and offsets written over its fields, unknown types). Every
//! input must give a file or a typed error, never a panic, and never an allocation sized by an
//! unchecked count; a file that opens must dequantize every tensor or refuse it with a typed
//! error. `PROPTEST_CASES` sets the budget (CI runs the default; docs/results/reliability.md
//! records a longer run).

use proptest::prelude::*;

use super::*;

/// A small valid file with every metadata kind, arrays, and tensors of four types (one read
/// but never dequantized).
fn valid() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.metadata("general.architecture", "llama")
        .metadata("llama.block_count", 2u32)
        .metadata("some.i64", -5i64)
        .metadata("some.f64", 0.25f64)
        .metadata("some.bool", true)
        .metadata(
            "tokenizer.ggml.tokens",
            MetadataValue::Array(vec!["a".into(), "b".into()]),
        )
        .metadata(
            "nested",
            MetadataValue::Array(vec![MetadataValue::Array(vec![1u16.into(), 2u16.into()])]),
        )
        .tensor_f32("norm.weight", &[3], &[1.0, 2.0, 3.0])
        .tensor("q8.weight", &[32, 2], GgmlType::Q8_0, vec![7; 68])
        .tensor("q4.weight", &[64], GgmlType::Q4_1, vec![3; 40])
        .tensor("q4k.weight", &[256], GgmlType(12), vec![3; 144]);
    w.to_bytes()
}

/// Opens `bytes` and, if that works, reads every tensor: panics are the only failure.
fn open_and_read(bytes: Vec<u8>) {
    if let Ok(file) = GgufFile::from_bytes(bytes, "fuzz.gguf") {
        for tensor in file.tensors() {
            let _ = file.tensor_bytes(tensor);
            let _ = file.dequantize(tensor);
        }
        for (key, _) in file.metadata() {
            let _ = file.require_str(key);
            let _ = file.require_u64(key);
            let _ = file.require_str_array(key);
        }
    }
}

/// One change to a valid file.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR a byte.
    Flip { at: usize, mask: u8 },
    /// Write a little-endian u64 (a count, a length, an offset, a dimension) over 8 bytes.
    Huge { at: usize, value: u64 },
    /// Write a u32 (a type id, a dimension count, a version) over 4 bytes.
    Word { at: usize, value: u32 },
    /// Cut the file.
    Truncate { len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let huge = prop_oneof![
        Just(u64::MAX),
        Just(u64::MAX / 2),
        Just(1u64 << 32),
        Just(1u64 << 40),
        Just(1u64 << 62),
        any::<u64>(),
        0u64..64,
    ];
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        (any::<usize>(), huge).prop_map(|(at, value)| Mutation::Huge { at, value }),
        (any::<usize>(), prop_oneof![any::<u32>(), 0u32..40])
            .prop_map(|(at, value)| { Mutation::Word { at, value } }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let n = bytes.len();
    match *mutation {
        Mutation::Flip { at, mask } => bytes[at % n] ^= mask,
        Mutation::Huge { at, value } => {
            let at = at % (n - 8);
            bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        Mutation::Word { at, value } => {
            let at = at % (n - 4);
            bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        Mutation::Truncate { len } => bytes.truncate(len % n),
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        open_and_read(bytes);
    }

    #[test]
    fn arbitrary_bytes_after_the_magic_never_panic(
        version in prop_oneof![Just(2u32), Just(3u32), any::<u32>()],
        rest in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend(rest);
        open_and_read(bytes);
    }

    /// The whole conversion to a Hugging Face folder (metadata to config and tokenizer,
    /// tensors dequantized and permuted) over mutations of a tiny Llama GGUF.
    #[test]
    fn mutated_models_convert_or_refuse(mutations in proptest::collection::vec(mutation(), 1..3)) {
        let mut bytes = crate::convert::tests::tiny().to_bytes();
        for mutation in &mutations {
            if bytes.len() > 8 {
                apply(&mut bytes, mutation);
            }
        }
        let dir = crate::fsutil::tests::TestDir::new("fuzz-convert");
        let src = dir.0.join("m.gguf");
        std::fs::write(&src, &bytes).unwrap();
        let _ = crate::convert::convert_gguf_to_hf(&src, dir.0.join("hf"), crate::convert::OutputDtype::F32);
    }

    #[test]
    fn mutated_files_never_panic(mutations in proptest::collection::vec(mutation(), 1..4)) {
        let mut bytes = valid();
        for mutation in &mutations {
            if bytes.len() > 8 {
                apply(&mut bytes, mutation);
            }
        }
        open_and_read(bytes);
    }
}

#[test]
fn the_valid_file_opens_and_reads() {
    let file = GgufFile::from_bytes(valid(), "valid.gguf").unwrap();
    assert_eq!(file.tensors().len(), 4);
    for tensor in file.tensors() {
        match file.dequantize(tensor) {
            Ok(values) => assert_eq!(values.len() as u64, tensor.n_elements),
            // Q4_K is read but not dequantized (SmolLM2's file has none).
            Err(crate::error::AssetError::UnsupportedQuantization { tensor, .. }) => {
                assert_eq!(tensor, "q4k.weight")
            }
            Err(other) => panic!("{other}"),
        }
    }
}
