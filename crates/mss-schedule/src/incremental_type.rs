//! The `incremental_type` setting: a uniform [`Curve`] or a [`LayerwiseCurve`].

use crate::names::Named;
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
    /// Every incremental type: the uniform curves, then the layer-wise ones.
    pub const ALL: [IncrementalType; 8] = [
        IncrementalType::Uniform(Curve::Linear),
        IncrementalType::Uniform(Curve::Square),
        IncrementalType::Uniform(Curve::Sqrt),
        IncrementalType::Uniform(Curve::InverseConvex),
        IncrementalType::Uniform(Curve::InverseConcave),
        IncrementalType::Layerwise(LayerwiseCurve::SquareSqrt),
        IncrementalType::Layerwise(LayerwiseCurve::DoubleInverse),
        IncrementalType::Layerwise(LayerwiseCurve::Adaptive),
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

impl Named for IncrementalType {
    const KIND: &'static str = "incremental type";
    const ALL: &'static [Self] = &IncrementalType::ALL;
    fn name(self) -> &'static str {
        IncrementalType::name(self)
    }
}

crate::display_and_parse_by_name!(IncrementalType, ScheduleError);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names;

    #[test]
    fn every_name_round_trips() {
        for name in names::valid_names::<IncrementalType>() {
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
        for name in names::valid_names::<IncrementalType>() {
            assert!(message.contains(name), "{message}");
        }
    }
}
