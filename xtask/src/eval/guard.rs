//! A run that panics — a bug, or a backend that gave up — becomes a record with status
//! `panic` instead of ending the grid. Unlike a refused configuration (`error`, final), a
//! panicked run is retried by the next invocation.

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Status of a run that finished.
pub const OK: &str = "ok";
/// Status of a configuration the library refused: final, not retried.
pub const REFUSED: &str = "error";
/// Status of a run that panicked: retried by the next invocation.
pub const PANICKED: &str = "panic";

/// Runs `f`; returns its value, or the status and message of its error or panic.
pub fn run_guarded<T, E: Display>(
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, (&'static str, String)> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err((REFUSED, e.to_string())),
        Err(payload) => {
            let message = match mss::panic_message(payload.as_ref()) {
                m if m.is_empty() => "a panic without a message".into(),
                m => m,
            };
            Err((PANICKED, message))
        }
    }
}

/// Runs `f` guarded; on failure writes its status and message into a record's `status` and
/// `error` and returns `None`.
pub fn run_into<T, E: Display>(
    status: &mut String,
    error: &mut Option<String>,
    f: impl FnOnce() -> Result<T, E>,
) -> Option<T> {
    match run_guarded(f) {
        Ok(value) => Some(value),
        Err((failed, message)) => {
            *status = failed.into();
            *error = Some(message);
            None
        }
    }
}

/// Whether a run with `status` is done (not to be run again).
pub fn is_done(status: &str) -> bool {
    status != PANICKED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_errors_and_panics_are_told_apart() {
        assert_eq!(run_guarded(|| Ok::<_, String>(3)), Ok(3));
        assert_eq!(
            run_guarded(|| Err::<(), _>("chunk smaller than memory")),
            Err((REFUSED, "chunk smaller than memory".into()))
        );
        let panicked = run_guarded(|| -> Result<(), String> { panic!("device lost: {}", 7) });
        assert_eq!(panicked, Err((PANICKED, "device lost: 7".into())));
        assert!(is_done(OK) && is_done(REFUSED) && !is_done(PANICKED));
    }
}
