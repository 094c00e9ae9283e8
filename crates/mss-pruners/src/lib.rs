//! mss-pruners
