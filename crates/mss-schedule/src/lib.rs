//! mss-schedule
