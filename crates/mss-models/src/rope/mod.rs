//! Rotary position embedding in Hugging Face's rotate-half layout, with its frequency scalings.

mod scaling;
mod table;

pub use scaling::{RopeScaling, inv_freq};
pub use table::{RopeTable, apply_rope};
