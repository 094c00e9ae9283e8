//! Rotary position embedding in Hugging Face's rotate-half layout, with its frequency scalings.

use burn::prelude::*;
use burn::tensor::DType;
#[cfg(feature = "cuda")]
use mss_core::LayerKv;
use serde_json::Value;

/// How RoPE frequencies are scaled.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// Positions divided by `factor` (`rope_type: "linear"`).
    Linear {
        /// Division factor.
        factor: f64,
    },
    /// Hugging Face's dynamic NTK (`rope_type: "dynamic"`): beyond
    /// `original_max_position_embeddings`, the base grows with the sequence length.
    Dynamic {
        /// Scaling factor.
        factor: f64,
        /// Length up to which nothing changes.
        original_max_position_embeddings: usize,
    },
    /// Llama 3.1's frequency-dependent scaling (`rope_type: "llama3"`).
    Llama3 {
        /// Scaling factor of low frequencies.
        factor: f64,
        /// Wavelength boundary (as a divisor of the original context) of the low band.
        low_freq_factor: f64,
        /// Wavelength boundary of the high band.
        high_freq_factor: f64,
        /// The context length the frequencies were trained for.
        original_max_position_embeddings: usize,
    },
    /// The dynamic NTK of the paper's code (CoLLiE, Qwen-style), set on purpose for paper
    /// reproductions: with `R` the last position of the step, `s = max(2^ceil(log2(R / max_length) + 1) - 1, 1)`
    /// and `base' = base * s^(d / (d - 2))`. Nothing changes while `R <= max_length`.
    StepNtk {
        /// Length up to which nothing changes (the model's `max_position_embeddings`).
        max_length: usize,
    },
}

const SUPPORTED: &str = "default, linear, dynamic, llama3";

impl RopeScaling {
    /// Reads `rope_scaling` (transformers v4) or `rope_parameters` (v5).
    pub(crate) fn from_hf(
        value: Option<&Value>,
        max_position_embeddings: usize,
    ) -> Result<Self, String> {
        let Some(Value::Object(map)) = value else {
            return match value {
                None | Some(Value::Null) => Ok(Self::None),
                Some(other) => Err(format!("expected an object, got {other}")),
            };
        };
        let kind = map
            .get("rope_type")
            .or_else(|| map.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let number = |key: &str| -> Result<f64, String> {
            map.get(key)
                .and_then(Value::as_f64)
                .ok_or_else(|| format!("rope_type '{kind}' needs a numeric '{key}'"))
        };
        let original = map
            .get("original_max_position_embeddings")
            .and_then(Value::as_u64)
            .map_or(max_position_embeddings, |v| v as usize);
        let scaling = match kind {
            "default" => Self::None,
            "linear" => Self::Linear {
                factor: number("factor")?,
            },
            "dynamic" => Self::Dynamic {
                factor: number("factor")?,
                original_max_position_embeddings: original,
            },
            "llama3" => Self::Llama3 {
                factor: number("factor")?,
                low_freq_factor: number("low_freq_factor")?,
                high_freq_factor: number("high_freq_factor")?,
                original_max_position_embeddings: original,
            },
            other => {
                return Err(format!(
                    "unsupported rope_type '{other}'; supported: {SUPPORTED}"
                ));
            }
        };
        scaling.validate()?;
        Ok(scaling)
    }

    /// Checks factors and lengths.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Self::None => Ok(()),
            Self::Linear { factor } | Self::Dynamic { factor, .. } if !positive(factor) => {
                Err(format!("factor {factor} must be positive"))
            }
            Self::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                ..
            } if !(factor > 0.0 && low_freq_factor > 0.0 && high_freq_factor > low_freq_factor) => {
                Err("llama3 needs factor > 0 and high_freq_factor > low_freq_factor > 0".into())
            }
            Self::Dynamic {
                original_max_position_embeddings: 0,
                ..
            }
            | Self::Llama3 {
                original_max_position_embeddings: 0,
                ..
            }
            | Self::StepNtk { max_length: 0 } => Err("the original length must be positive".into()),
            _ => Ok(()),
        }
    }
}

/// Whether `x` is a positive number (false for NaN).
fn positive(x: f64) -> bool {
    x > 0.0
}

/// Inverse frequencies `[head_dim / 2]` for a step whose largest position is `last_position`
/// (only the dynamic scalings depend on it), computed in f32 as transformers does.
pub fn inv_freq(
    theta: f64,
    head_dim: usize,
    scaling: RopeScaling,
    last_position: usize,
) -> Vec<f32> {
    let d = head_dim as f64;
    let base = match scaling {
        RopeScaling::Dynamic {
            factor,
            original_max_position_embeddings: orig,
        } if last_position + 1 > orig => {
            let seq_len = (last_position + 1) as f64;
            theta * ((factor * seq_len / orig as f64) - (factor - 1.0)).powf(d / (d - 2.0))
        }
        RopeScaling::StepNtk { max_length } => {
            let ratio = last_position as f64 / max_length as f64;
            let s = if ratio > 0.0 {
                (2f64.powf((ratio.log2() + 1.0).ceil()) - 1.0).max(1.0)
            } else {
                1.0
            };
            theta * s.powf(d / (d - 2.0))
        }
        _ => theta,
    };
    let plain =
        (0..head_dim / 2).map(|i| 1.0 / (base as f32).powf((2 * i) as f32 / head_dim as f32));
    match scaling {
        RopeScaling::Linear { factor } => plain.map(|f| f / factor as f32).collect(),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        } => {
            let old = original_max_position_embeddings as f64;
            let (low_wavelen, high_wavelen) = (old / low_freq_factor, old / high_freq_factor);
            plain
                .map(|f| {
                    let wavelen = 2.0 * std::f64::consts::PI / f as f64;
                    if wavelen < high_wavelen {
                        f
                    } else if wavelen > low_wavelen {
                        f / factor as f32
                    } else {
                        let smooth = (old / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        ((1.0 - smooth) * f as f64 / factor + smooth * f as f64) as f32
                    }
                })
                .collect()
        }
        _ => plain.collect(),
    }
}

/// Cosines and sines of the RoPE positions `0..len` of one step, in the rotate-half layout.
///
/// Built once per forward pass (the dynamic scalings depend on the step's last position) and
/// read by every layer: queries take a contiguous range of rows, memory keys select theirs.
/// The sines carry `rotate_half`'s sign (`[-sin, sin]`), so a rotation is two products of the
/// halves-swapped input, with no concatenation. Under compact positions the table spans
/// memory and chunk; under original positions the document so far (at 32K positions and
/// head dim 64, 8 MiB in bf16).
///
/// # Shapes
/// - `cos`, `signed_sin`: `[len, head_dim]`
#[derive(Debug, Clone)]
pub struct RopeTable<B: Backend> {
    cos: Tensor<B, 2>,
    signed_sin: Tensor<B, 2>,
}

impl<B: Backend> RopeTable<B> {
    /// The table of positions `0..len` for the given inverse frequencies, in `dtype`. Angles are
    /// computed in f32, as transformers does.
    pub fn new(len: usize, inv_freq: &[f32], dtype: DType, device: &B::Device) -> Self {
        let half = inv_freq.len();
        let freq = Tensor::<B, 1>::from_data(
            TensorData::new(inv_freq.to_vec(), [half]),
            (device, DType::F32),
        );
        let angles = Tensor::<B, 1, Int>::arange(0..len as i64, device)
            .float()
            .cast(DType::F32)
            .reshape([len, 1])
            .mul(freq.reshape([1, half]));
        let cos = angles.clone().cos();
        let sin = angles.sin();
        Self {
            cos: Tensor::cat(vec![cos.clone(), cos], 1).cast(dtype),
            signed_sin: Tensor::cat(vec![sin.clone().neg(), sin], 1).cast(dtype),
        }
    }

    /// The rows of positions `start..start + n`, shared by every head: `[1, 1, n, head_dim]`.
    pub fn range(&self, start: usize, n: usize) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let d = self.cos.dims()[1];
        let rows = |t: &Tensor<B, 2>| t.clone().narrow(0, start, n).reshape([1, 1, n, d]);
        (rows(&self.cos), rows(&self.signed_sin))
    }

    /// `x` rotated at positions `start..start + len`, the same for every head (one kernel on
    /// Burn's CUDA backend with feature `cuda`, unless `use_rope_kernel` switched it off).
    ///
    /// # Shapes
    /// - `x`: `[1, heads, len, head_dim]`; returns the same
    pub fn rotate_range(&self, x: Tensor<B, 4>, start: usize) -> Tensor<B, 4> {
        #[cfg(feature = "cuda")]
        if let Some(out) = crate::cuda::rotate(&x, &self.cos, &self.signed_sin, None, start) {
            return out;
        }
        let (cos, sin) = self.range(start, x.dims()[2]);
        apply_rope(x, cos, sin)
    }

    /// `[memory; chunk]`, its keys rotated at `start..` and the chunk's queries at
    /// `query_start..`, as [`rotate_range`](Self::rotate_range) rotates them, through one
    /// kernel on Burn's CUDA backend (`None` where that kernel does not apply: the caller joins
    /// and rotates).
    #[cfg(feature = "cuda")]
    pub(crate) fn join_rotated(
        &self,
        memory: &LayerKv<B>,
        chunk: &LayerKv<B>,
        queries: (&Tensor<B, 4>, usize),
        start: usize,
    ) -> Option<(LayerKv<B>, Tensor<B, 4>, Tensor<B, 4>)> {
        crate::cuda::join_rotated(memory, chunk, queries, &self.cos, &self.signed_sin, start)
    }

    /// `x` rotated at explicit per-head positions (each below the table's length; one kernel on
    /// Burn's CUDA backend with feature `cuda`, unless `use_rope_kernel` switched it off).
    ///
    /// # Shapes
    /// - `x`: `[1, heads, len, head_dim]`, `positions`: `[heads, len]`; returns the shape of `x`
    pub fn rotate_at(&self, x: Tensor<B, 4>, positions: Tensor<B, 2, Int>) -> Tensor<B, 4> {
        #[cfg(feature = "cuda")]
        if let Some(out) = crate::cuda::rotate(&x, &self.cos, &self.signed_sin, Some(&positions), 0)
        {
            return out;
        }
        let (cos, sin) = self.select(positions);
        apply_rope(x, cos, sin)
    }

    /// The rows of explicit per-head positions `[heads, n]` (each below the table's length):
    /// `[1, heads, n, head_dim]`.
    pub fn select(&self, positions: Tensor<B, 2, Int>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let [heads, n] = positions.dims();
        let d = self.cos.dims()[1];
        let flat = positions.reshape([heads * n]);
        let rows = |t: &Tensor<B, 2>| t.clone().select(0, flat.clone()).reshape([1, heads, n, d]);
        (rows(&self.cos), rows(&self.signed_sin))
    }
}

/// Rotates `x` by the given table rows: `x * cos + rotate_half(x) * sin`, computed as
/// `x * cos + swap_halves(x) * signed_sin`.
///
/// # Shapes
/// - `x`: `[1, heads, len, head_dim]`
/// - `cos`, `signed_sin`: `[1, heads or 1, len, head_dim]` (see [`RopeTable`])
pub fn apply_rope<B: Backend>(
    x: Tensor<B, 4>,
    cos: Tensor<B, 4>,
    signed_sin: Tensor<B, 4>,
) -> Tensor<B, 4> {
    let [b, h, t, d] = x.dims();
    let swapped = x
        .clone()
        .reshape([b, h, t, 2, d / 2])
        .flip([3])
        .reshape([b, h, t, d]);
    let cos = cos.expand([b, h, t, d]);
    let signed_sin = signed_sin.expand([b, h, t, d]);
    x.mul(cos).add(swapped.mul(signed_sin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_frequencies_follow_the_base() {
        let f = inv_freq(10_000.0, 8, RopeScaling::None, 0);
        let expected = [1.0, 0.1, 0.01, 0.001];
        for (a, b) in f.iter().zip(expected) {
            assert!((a - b).abs() <= 1e-6 * b.max(1e-3), "{a} vs {b}");
        }
    }

    #[test]
    fn step_ntk_matches_the_worked_thresholds() {
        // algorithm.md §2.2 item 5 with max_length 4096: s = 1, 3, 7, 15.
        let s_of = |last: usize| {
            let scaled = inv_freq(10_000.0, 4, RopeScaling::StepNtk { max_length: 4096 }, last)[1];
            let plain = inv_freq(10_000.0, 4, RopeScaling::None, last)[1];
            // inv_freq[1] = base^(-1/2) and base' = base * s^2 (d = 4): ratio = 1 / s.
            (plain / scaled).round() as i32
        };
        assert_eq!(
            [s_of(4000), s_of(4096), s_of(8191), s_of(16383), s_of(32767)],
            [1, 1, 3, 7, 15]
        );
    }

    #[test]
    fn dynamic_ntk_changes_nothing_within_the_window() {
        let dynamic = RopeScaling::Dynamic {
            factor: 2.0,
            original_max_position_embeddings: 64,
        };
        assert_eq!(
            inv_freq(1e4, 16, dynamic, 63),
            inv_freq(1e4, 16, RopeScaling::None, 63)
        );
        assert_ne!(
            inv_freq(1e4, 16, dynamic, 64),
            inv_freq(1e4, 16, RopeScaling::None, 64)
        );
    }

    #[test]
    fn llama3_keeps_high_and_divides_low_frequencies() {
        let scaling = RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192,
        };
        let plain = inv_freq(500_000.0, 128, RopeScaling::None, 0);
        let scaled = inv_freq(500_000.0, 128, scaling, 0);
        assert_eq!(scaled[0], plain[0]);
        assert!((scaled[63] - plain[63] / 8.0).abs() < 1e-12);
    }

    type B = burn::backend::Flex;

    /// Hugging Face's definition: `x * cos + rotate_half(x) * sin` with `[cos, cos]`, `[sin, sin]`.
    fn reference(x: &[f32], position: usize, inv_freq: &[f32]) -> Vec<f32> {
        let half = inv_freq.len();
        (0..2 * half)
            .map(|i| {
                let angle = position as f32 * inv_freq[i % half];
                let rotated = if i < half { -x[i + half] } else { x[i - half] };
                x[i] * angle.cos() + rotated * angle.sin()
            })
            .collect()
    }

    #[test]
    fn table_rotation_matches_rotate_half() {
        let device = Default::default();
        let freq = inv_freq(10_000.0, 8, RopeScaling::None, 0);
        let table = RopeTable::<B>::new(12, &freq, DType::F32, &device);
        let x: Vec<f32> = (0..2 * 3 * 8).map(|i| (i as f32 * 0.37).sin()).collect();
        let input = Tensor::<B, 1>::from_floats(x.as_slice(), &device).reshape([1, 2, 3, 8]);

        // Contiguous positions 5, 6, 7 for both heads.
        let (cos, sin) = table.range(5, 3);
        let got: Vec<f32> = apply_rope(input.clone(), cos, sin)
            .into_data()
            .to_vec()
            .unwrap();
        // Explicit positions: head 0 at 0, 4, 11; head 1 at 2, 3, 9.
        let positions = Tensor::<B, 2, Int>::from_data([[0, 4, 11], [2, 3, 9]], &device);
        let (cos, sin) = table.select(positions);
        let selected: Vec<f32> = apply_rope(input, cos, sin).into_data().to_vec().unwrap();

        let explicit = [[0, 4, 11], [2, 3, 9]];
        for (head, head_positions) in explicit.iter().enumerate() {
            for (row, &position) in head_positions.iter().enumerate() {
                let at = (head * 3 + row) * 8;
                let want = reference(&x[at..at + 8], 5 + row, &freq);
                let want_sel = reference(&x[at..at + 8], position, &freq);
                for i in 0..8 {
                    assert!(
                        (got[at + i] - want[i]).abs() < 1e-5,
                        "range {head} {row} {i}"
                    );
                    assert!(
                        (selected[at + i] - want_sel[i]).abs() < 1e-5,
                        "select {head} {row} {i}"
                    );
                }
            }
        }
    }
}
