//! Every user callback a pool calls (job hooks, worker hooks, classifiers) goes through
//! [`contain`]: a panic in it is caught and logged, and the pool goes on as if it had returned
//! nothing. Pools call them outside their lock.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs the user's callback `name`; `None` (and an error log, target
/// `process_pool_core::hooks`) if it panicked.
pub(crate) fn contain<R>(name: &'static str, call: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(value) => Some(value),
        Err(payload) => {
            tracing::error!(
                target: "process_pool_core::hooks",
                hook = name,
                panic = %panic_message(payload.as_ref()),
                "a pool hook panicked; the pool goes on"
            );
            None
        }
    }
}

/// The text of a panic payload, when it has one.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_callback_is_contained() {
        assert_eq!(contain("ok", || 7), Some(7));
        assert_eq!(contain("boom", || -> u8 { panic!("boom") }), None);
    }
}
