//! RoPE's frequencies: the scalings Hugging Face configs name (and the paper's step-wise NTK),
//! and the inverse frequencies of a step.

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
}
