//! Runnable examples of mss live beside this crate as `examples/*.rs`.
