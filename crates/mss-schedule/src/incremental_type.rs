//! The `incremental_type` setting: a uniform [`Curve`] or a [`LayerwiseCurve`].

use std::fmt;
use std::str::FromStr;

use crate::{Curve, LayerwiseCurve, ScheduleError};

/// How incremental memory (IM) grows, as named by the reference's `incremental_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncrementalType {
    /// Every layer follows the same curve.
    Uniform(Curve),
    /// Layers follow different curves, or share budgets by measured retention.
    Layerwise(LayerwiseCurve),
}

impl IncrementalType {
    /// Every accepted name (case-insensitive; `-` and `_` are interchangeable).
    pub const NAMES: &'static [&'static str] = &[
        "linear",
        "square",
        "sqrt",
        "inverse_convex",
        "inverse_concave",
        "square_sqrt",
        "double_inverse",
        "adaptive",
    ];

    /// The reference name.
    pub fn name(self) -> &'static str {
        match self {
            IncrementalType::Uniform(c) => c.name(),
            IncrementalType::Layerwise(c) => c.name(),
        }
    }

    /// Whether budgets differ between layers (and the number of layers is needed).
    pub fn is_layerwise(self) -> bool {
        matches!(self, IncrementalType::Layerwise(_))
    }
}

impl Default for IncrementalType {
    /// `linear`, the reference default.
    fn default() -> Self {
        IncrementalType::Uniform(Curve::Linear)
    }
}

impl From<Curve> for IncrementalType {
    fn from(curve: Curve) -> Self {
        IncrementalType::Uniform(curve)
    }
}

impl From<LayerwiseCurve> for IncrementalType {
    fn from(curve: LayerwiseCurve) -> Self {
        IncrementalType::Layerwise(curve)
    }
}

impl fmt::Display for IncrementalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for IncrementalType {
    type Err = ScheduleError;

    /// Parses any uniform or layer-wise name; the error lists all eight.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<Curve>()
            .map(IncrementalType::Uniform)
            .or_else(|_| s.parse::<LayerwiseCurve>().map(IncrementalType::Layerwise))
            .map_err(|_| ScheduleError::UnknownName {
                kind: "incremental type",
                given: s.to_owned(),
                valid: IncrementalType::NAMES,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for name in IncrementalType::NAMES {
            let parsed: IncrementalType = name.parse().unwrap();
            assert_eq!(parsed.to_string(), *name);
        }
        assert_eq!(
            "ADAPTIVE".parse::<IncrementalType>(),
            Ok(LayerwiseCurve::Adaptive.into())
        );
        assert_eq!(IncrementalType::default(), Curve::Linear.into());
    }

    #[test]
    fn unknown_names_list_all_choices() {
        let err = "smooth_adaptive".parse::<IncrementalType>().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("smooth_adaptive"), "{message}");
        for name in IncrementalType::NAMES {
            assert!(message.contains(name), "{message}");
        }
    }
}
