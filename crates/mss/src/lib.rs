//! mss
