//! [`Call`]: one request to a worker pool, and [`CallHandle`], its answer to come.

use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::error::CallError;
use super::pool::Shared;

/// A call's number in its pool, from 1; also its id on the wire.
pub type CallId = u64;

/// A call of a worker's method: the method, its payload, and how to run it.
///
/// ```
/// use std::time::Duration;
/// use process_pool_core::Call;
///
/// let call = Call::new("resize", "photo.jpg")
///     .priority(10)
///     .timeout(Duration::from_secs(5))
///     .no_retry();
/// assert_eq!(call.method(), "resize");
/// ```
#[derive(Debug, Clone)]
pub struct Call {
    pub(crate) method: String,
    pub(crate) payload: Bytes,
    pub(crate) priority: i32,
    pub(crate) timeout: Option<Duration>,
    pub(crate) no_retry: bool,
}

impl Call {
    /// A call of `method` with `payload`, at priority 0, with the pool's timeout and retries.
    pub fn new(method: impl Into<String>, payload: impl Into<Bytes>) -> Call {
        Call {
            method: method.into(),
            payload: payload.into(),
            priority: 0,
            timeout: None,
            no_retry: false,
        }
    }

    /// Runs before calls of lower priority (default 0); first-in first-out among equals.
    pub fn priority(mut self, priority: i32) -> Call {
        self.priority = priority;
        self
    }

    /// Fails with [`CallError::TimedOut`] if not answered within `limit` of reaching a worker
    /// (instead of the pool's `call_timeout`).
    pub fn timeout(mut self, limit: Duration) -> Call {
        self.timeout = Some(limit);
        self
    }

    /// Never runs twice: if its worker dies, the call fails with
    /// [`CallError::WorkerCrashed`] rather than being retried elsewhere, and a
    /// [`retry_when`](crate::WorkerPoolBuilder::retry_when) classifier is not asked. For
    /// calls that are not safe to repeat (a payment, a post). (A worker that answers
    /// `overloaded` did not run it: that one is still sent again.)
    pub fn no_retry(mut self) -> Call {
        self.no_retry = true;
        self
    }

    /// The method called.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}

/// A call in the pool: await it for the reply, or cancel it.
///
/// Dropping the handle does not cancel the call.
#[derive(Debug)]
pub struct CallHandle {
    pub(crate) id: CallId,
    pub(crate) method: String,
    pub(crate) reply: oneshot::Receiver<Result<Bytes, CallError>>,
    pub(crate) pool: Weak<Shared>,
}

impl CallHandle {
    /// The call's id in its pool.
    pub fn id(&self) -> CallId {
        self.id
    }

    /// Cancels the call: a queued call is taken out; a running one gets a cancel frame, and
    /// if its worker has not answered within the pool's `cancel_grace` the worker is killed
    /// (its other calls are retried). The handle then yields [`CallError::Cancelled`], unless
    /// the reply came first.
    pub fn cancel(&self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.abandon(
                self.id,
                CallError::Cancelled {
                    method: self.method.clone(),
                },
            );
        }
    }
}

impl Future for CallHandle {
    type Output = Result<Bytes, CallError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.reply).poll(cx).map(|answer| {
            // The pool answers every call it accepted; a dropped sender means the pool is gone.
            answer.unwrap_or(Err(CallError::PoolClosed))
        })
    }
}
