//! mss-probe
