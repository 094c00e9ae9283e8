//! Dequantization to f32 of F32, F16, BF16, Q8_0, Q4_0 and Q4_1 data, bit-for-bit as
//! gguf-py's `gguf.quants.dequantize` computes it (f32 arithmetic, no fused multiply-add).

use half::f16;

use super::ggml_type::GgmlType;
use crate::error::{AssetError, Result};

/// Values per block of the 32-value formats.
const QK: usize = 32;

/// Decodes `bytes` of type `ty` into f32 values; `tensor` names it in errors.
pub fn dequantize(ty: GgmlType, bytes: &[u8], tensor: &str) -> Result<Vec<f32>> {
    let unsupported = || AssetError::UnsupportedQuantization {
        tensor: tensor.to_owned(),
        ggml_type: ty.to_string(),
    };
    let (_, block_bytes) = ty.block_layout().ok_or_else(unsupported)?;
    if !(bytes.len() as u64).is_multiple_of(block_bytes) {
        return Err(AssetError::InvalidTensor {
            tensor: tensor.to_owned(),
            reason: format!(
                "{} bytes is not a whole number of {ty} blocks of {block_bytes} bytes",
                bytes.len()
            ),
        });
    }
    Ok(match ty {
        GgmlType::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        GgmlType::F16 => bytes.chunks_exact(2).map(|b| f16_at(b, 0)).collect(),
        GgmlType::BF16 => bytes
            .chunks_exact(2)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
            .collect(),
        GgmlType::Q8_0 => blocks(bytes, 34, |b, out| {
            let d = f16_at(b, 0);
            out.extend(b[2..34].iter().map(|&q| d * f32::from(q as i8)));
        }),
        GgmlType::Q4_0 => blocks(bytes, 18, |b, out| {
            let d = f16_at(b, 0);
            nibbles(&b[2..18], out, |q| d * f32::from(q as i8 - 8));
        }),
        GgmlType::Q4_1 => blocks(bytes, 20, |b, out| {
            let d = f16_at(b, 0);
            let m = f16_at(b, 2);
            nibbles(&b[4..20], out, |q| d * f32::from(q) + m);
        }),
        _ => return Err(unsupported()),
    })
}

/// The little-endian f16 at `b[at..at + 2]`, widened to f32.
fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// Runs `f` over each `size`-byte block, collecting its values.
fn blocks(bytes: &[u8], size: usize, mut f: impl FnMut(&[u8], &mut Vec<f32>)) -> Vec<f32> {
    let mut out = Vec::with_capacity(bytes.len() / size * QK);
    for b in bytes.chunks_exact(size) {
        f(b, &mut out);
    }
    out
}

/// The 32 values of a 16-byte nibble block: low nibbles are values 0..16, high nibbles 16..32.
fn nibbles(qs: &[u8], out: &mut Vec<f32>, f: impl Fn(u8) -> f32) {
    out.extend(qs.iter().map(|&q| f(q & 0x0F)));
    out.extend(qs.iter().map(|&q| f(q >> 4)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn f32_f16_bf16() {
        let b: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(dequantize(GgmlType::F32, &b, "t").unwrap(), [1.5, -2.0]);
        let b: Vec<u8> = [h(0.5), h(-3.0)].concat();
        assert_eq!(dequantize(GgmlType::F16, &b, "t").unwrap(), [0.5, -3.0]);
        // bf16 is the high half of an f32.
        let b: Vec<u8> = [
            (1.0f32.to_bits() >> 16) as u16,
            ((-0.375f32).to_bits() >> 16) as u16,
        ]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
        assert_eq!(dequantize(GgmlType::BF16, &b, "t").unwrap(), [1.0, -0.375]);
    }

    #[test]
    fn q8_0_with_negative_values() {
        let mut b = h(0.5).to_vec();
        let qs: Vec<i8> = (0..32).map(|i| i as i8 - 16).collect();
        b.extend(qs.iter().map(|&q| q as u8));
        let v = dequantize(GgmlType::Q8_0, &b, "t").unwrap();
        let want: Vec<f32> = qs.iter().map(|&q| 0.5 * f32::from(q)).collect();
        assert_eq!(v, want);
        assert_eq!(v[0], -8.0);
        assert_eq!(v[31], 7.5);
        assert_eq!(
            dequantize(GgmlType::Q8_0, &[0x00, 0x00, 0x80], "t")
                .unwrap_err()
                .to_string(),
            "tensor \"t\": 3 bytes is not a whole number of Q8_0 blocks of 34 bytes"
        );
    }

    #[test]
    fn q4_1_nibble_order() {
        // Byte j holds value j in its low nibble and value j + 16 in its high nibble.
        let mut b = [h(2.0), h(-1.0)].concat();
        b.extend((0..16u8).map(|j| (j % 16) | ((15 - j) << 4)));
        let v = dequantize(GgmlType::Q4_1, &b, "t").unwrap();
        for j in 0..16 {
            assert_eq!(v[j], 2.0 * j as f32 - 1.0, "low nibble {j}");
            assert_eq!(v[j + 16], 2.0 * (15 - j) as f32 - 1.0, "high nibble {j}");
        }
    }

    #[test]
    fn q4_0_centres_on_eight() {
        let mut b = h(0.25).to_vec();
        b.extend([0x80u8; 16]); // low nibble 0 -> -8, high nibble 8 -> 0
        let v = dequantize(GgmlType::Q4_0, &b, "t").unwrap();
        assert!(v[..16].iter().all(|&x| x == -2.0));
        assert!(v[16..].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn two_blocks_keep_order() {
        let mut b = h(1.0).to_vec();
        b.extend([1i8 as u8; 32]);
        b.extend(h(-1.0));
        b.extend([3i8 as u8; 32]);
        let v = dequantize(GgmlType::Q8_0, &b, "t").unwrap();
        assert_eq!(v.len(), 64);
        assert_eq!((v[0], v[31], v[32], v[63]), (1.0, 1.0, -3.0, -3.0));
    }

    #[test]
    fn other_types_are_unsupported() {
        for ty in [GgmlType(12), GgmlType(99)] {
            match dequantize(ty, &[0; 144], "blk.0.ffn_up.weight") {
                Err(AssetError::UnsupportedQuantization { tensor, ggml_type }) => {
                    assert_eq!(tensor, "blk.0.ffn_up.weight");
                    assert_eq!(ggml_type, ty.to_string());
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
