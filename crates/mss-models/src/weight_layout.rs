//! Which projections keep their weights in Hugging Face's `[out, in]` storage on Burn's CUDA
//! backend, read through a transposed view, instead of a transposed copy `[in, out]`.
//!
//! cuBLAS picks a different kernel for each layout of one product, and which is faster depends
//! on the shape and the GPU (docs/decisions.md §32): a measured choice, so a setting with the
//! measured default rather than a constant. Both layouts hold the same values; only the
//! product's kernel (and so its rounding order) differs.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

/// A linear projection of a decoder layer, named as in Hugging Face checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Projection {
    /// `self_attn.q_proj`
    Q,
    /// `self_attn.k_proj`
    K,
    /// `self_attn.v_proj`
    V,
    /// `self_attn.o_proj`
    O,
    /// `mlp.gate_proj`
    Gate,
    /// `mlp.up_proj`
    Up,
    /// `mlp.down_proj`
    Down,
}

impl Projection {
    /// Every projection of a layer, in the order a layer runs them.
    pub const ALL: [Self; 7] = [
        Self::Q,
        Self::K,
        Self::V,
        Self::O,
        Self::Gate,
        Self::Up,
        Self::Down,
    ];

    /// The short name (`q`, `k`, `v`, `o`, `gate`, `up`, `down`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Q => "q",
            Self::K => "k",
            Self::V => "v",
            Self::O => "o",
            Self::Gate => "gate",
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Projection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a projection's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a projection (q, k, v, o, gate, up or down, optionally with `_proj`)")]
pub struct UnknownProjection(String);

impl FromStr for Projection {
    type Err = UnknownProjection;

    /// A short name or Hugging Face's (`gate` or `gate_proj`), in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let short = lower.strip_suffix("_proj").unwrap_or(&lower);
        Self::ALL
            .into_iter()
            .find(|p| p.name() == short)
            .ok_or_else(|| UnknownProjection(s.to_string()))
    }
}

/// Gate and up: cuBLAS multiplies by them ~9 % faster in `[out, in]` at the 7B shape on an
/// H200, and by the others in `[in, out]` (docs/decisions.md §32).
const DEFAULT: u8 = Projection::Gate.bit() | Projection::Up.bit();

static AS_STORED: AtomicU8 = AtomicU8::new(DEFAULT);

/// Keeps exactly `projections` in Hugging Face's `[out, in]` storage (transposed views) in
/// every model built afterwards on Burn's CUDA backend; the others get transposed copies. Other
/// backends always copy. Models built before keep their layout.
pub fn keep_weights_as_stored(projections: &[Projection]) {
    let bits = projections.iter().fold(0, |bits, p| bits | p.bit());
    AS_STORED.store(bits, Ordering::Relaxed);
}

/// The projections [`keep_weights_as_stored`] set last (gate and up unless set), in
/// [`Projection::ALL`]'s order.
pub fn weights_kept_as_stored() -> Vec<Projection> {
    Projection::ALL
        .into_iter()
        .filter(|p| kept_as_stored(*p))
        .collect()
}

/// Whether models built now keep `projection` as stored (on Burn's CUDA backend).
pub(crate) fn kept_as_stored(projection: Projection) -> bool {
    AS_STORED.load(Ordering::Relaxed) & projection.bit() != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projections_parse_by_short_and_hugging_face_names() {
        for p in Projection::ALL {
            assert_eq!(p.name().parse::<Projection>(), Ok(p));
            assert_eq!(format!("{p}_proj").parse::<Projection>(), Ok(p));
            assert_eq!(p.name().to_uppercase().parse::<Projection>(), Ok(p));
        }
        for bad in ["", "proj", "gate_up", "qkv", "down_projection"] {
            let error = bad.parse::<Projection>().unwrap_err();
            assert!(
                error.to_string().contains("not a projection"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn the_setting_holds_exactly_the_projections_given() {
        // The only test that touches the process-wide setting; restored at the end.
        assert_eq!(
            weights_kept_as_stored(),
            [Projection::Gate, Projection::Up],
            "the default"
        );
        for set in [
            vec![],
            vec![Projection::Down],
            vec![Projection::Down, Projection::Q, Projection::Down],
            Projection::ALL.to_vec(),
        ] {
            keep_weights_as_stored(&set);
            let want: Vec<_> = Projection::ALL
                .into_iter()
                .filter(|p| set.contains(p))
                .collect();
            assert_eq!(weights_kept_as_stored(), want);
            for p in Projection::ALL {
                assert_eq!(kept_as_stored(p), set.contains(&p), "{p}");
            }
        }
        keep_weights_as_stored(&[Projection::Gate, Projection::Up]);
    }
}
