//! Memory probing for chunked prefill: retention, forgetting curve, attention to memory.
//!
//! Not written yet: this crate is a placeholder in the workspace layout and exports nothing.
//! The probes will observe the prefill loop of the `mss` facade through a narrow hook.
