//! [`Call`]: one request to a worker pool, its entry in the engine, and [`CallHandle`], its
//! answer to come.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;

use super::Shared;
use super::error::CallError;
use crate::engine::queue::QueueKey;
use crate::engine::retry::RetryPolicy;
use crate::engine::ticket::{Receipt, Ticket, Work};
use crate::engine::timer::Timer;
use crate::engine::{Lease, Queued};

/// A call's number in its pool, from 1; also its id on the wire.
pub type CallId = u64;

/// A call of a worker's method: the method, its payload, and how to run it.
///
/// ```
/// use std::time::Duration;
/// use process_pool::Call;
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
    pub(crate) retry: Option<RetryPolicy>,
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
            retry: None,
            no_retry: false,
        }
    }

    /// Runs before calls of lower priority (default 0); first-in first-out among equals.
    #[must_use]
    pub fn priority(mut self, priority: i32) -> Call {
        self.priority = priority;
        self
    }

    /// Fails with [`CallError::TimedOut`] if not answered within `limit` of reaching a worker
    /// (instead of the pool's [`timeout`](crate::WorkerPoolBuilder::timeout)).
    #[must_use]
    pub fn timeout(mut self, limit: Duration) -> Call {
        self.timeout = Some(limit);
        self
    }

    /// Overrides the pool's retry policy for this call.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Call {
        self.retry = Some(policy);
        self
    }

    /// Never runs twice: if its worker dies, the call fails with
    /// [`CallError::WorkerCrashed`] rather than being retried elsewhere, whatever the retry
    /// policy, and no classifier is asked. For calls that are not safe to repeat (a payment, a
    /// post). (A worker that answers `overloaded` did not run it: that one is still sent
    /// again.)
    #[must_use]
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

impl Work for Call {
    type Answer = Result<Bytes, CallError>;

    fn abandoned(&mut self, _id: u64, _index: usize) -> Self::Answer {
        Err(CallError::Cancelled {
            method: self.method.clone(),
        })
    }
}

/// A call on its way through the pool: queued, on a worker, or waiting to retry.
#[derive(Debug)]
pub(crate) struct CallEntry {
    pub(crate) ticket: Ticket<Call>,
    /// Attempts sent so far.
    pub(crate) attempts: u32,
    pub(crate) submitted: Instant,
    /// When its current attempt was sent to a worker.
    pub(crate) sent: Option<Instant>,
    /// The id its current attempt was sent under.
    pub(crate) wire: u64,
    /// Its current attempt's timeout, stopped when the attempt ends.
    pub(crate) timer: Option<Timer>,
}

impl CallEntry {
    pub(crate) fn call(&self) -> &Call {
        &self.ticket.work
    }

    pub(crate) fn method(&self) -> String {
        self.ticket.work.method.clone()
    }

    /// Answers the caller (once) and stops its timer.
    pub(crate) fn answer(&mut self, answer: Result<Bytes, CallError>) -> bool {
        self.timer = None;
        self.ticket.answer(answer)
    }
}

impl Queued for CallEntry {
    fn key(&self) -> QueueKey {
        self.ticket.key
    }
}

/// A call in the pool: await it for the reply, or cancel it.
///
/// Dropping the handle does not cancel the call, as long as the pool is held. A handle holds
/// its pool: the pool does not stop while the handle is there.
#[derive(Debug)]
pub struct CallHandle {
    pub(crate) id: CallId,
    pub(crate) key: QueueKey,
    pub(crate) receipt: Receipt<Result<Bytes, CallError>>,
    pub(crate) lease: Arc<Lease<Shared>>,
}

impl CallHandle {
    /// The call's id in its pool.
    pub fn id(&self) -> CallId {
        self.id
    }

    /// Cancels the call: a queued or waiting call is taken out; a running one gets a cancel
    /// frame, and if its worker has not answered within the pool's `kill_grace` the worker is
    /// killed (its other calls are retried). The handle then yields
    /// [`CallError::Cancelled`], unless the reply came first.
    pub fn cancel(&self) {
        self.lease.pool().cancel_call(self.id, &self.key);
    }
}

impl Future for CallHandle {
    type Output = Result<Bytes, CallError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        Pin::new(&mut this.receipt).poll(cx).map(|answer| {
            // The pool answers every call it accepted; no answer means it is gone.
            answer.unwrap_or(Err(CallError::PoolClosed))
        })
    }
}
