//! Batches: `run_all`, `run_all_checked`, `run_all_fail_fast`, `map` and `stream`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::stream::{FuturesUnordered, Stream, StreamExt};

use super::handle::{JobHandle, Owner, cancel_and_reap};
use super::{Inner, ProcessPool, validate};
use crate::engine::ticket::Collector;
use crate::error::JobError;
use crate::job::Job;
use crate::result::{JobId, JobResult};

impl ProcessPool {
    /// Runs every job and returns their results in input order.
    ///
    /// A failing job is a result, not an error (see [`ProcessPool::run_all_checked`]). Fails
    /// before starting anything if a job is invalid ([`JobError::InvalidJob`], naming its
    /// index), and with [`JobError::PoolClosed`] if the pool is closed. If the returned future
    /// is dropped, the batch's unfinished jobs are cancelled.
    pub async fn run_all<I>(&self, jobs: I) -> Result<Vec<JobResult>, JobError>
    where
        I: IntoIterator<Item = Job>,
    {
        let jobs: Vec<Job> = jobs.into_iter().collect();
        // Results go straight into the batch's cells, and the batch wakes once, when the last
        // one is in: no channel and no wake per job.
        let collector = Arc::new(Collector::new(jobs.len()));
        let handles = self
            .submit_batch(jobs, Owner::Collect(Arc::clone(&collector)))
            .await?;
        collector.filled().await;
        let ids: Vec<JobId> = handles.iter().map(JobHandle::id).collect();
        handles.into_iter().for_each(JobHandle::release);
        Ok(collector
            .take()
            .into_iter()
            .zip(ids)
            .map(|(result, id)| result.unwrap_or_else(|| JobResult::lost(id)))
            .collect())
    }

    /// Runs every job; returns the results in input order if all succeeded, else the
    /// [`JobError`] of the first job (in input order) that did not.
    ///
    /// Every job runs to its end either way; see [`ProcessPool::run_all_fail_fast`] to stop at
    /// the first failure.
    pub async fn run_all_checked<I>(&self, jobs: I) -> Result<Vec<JobResult>, JobError>
    where
        I: IntoIterator<Item = Job>,
    {
        let results = self.run_all(jobs).await?;
        match results.iter().find_map(JobResult::error) {
            Some(error) => Err(error),
            None => Ok(results),
        }
    }

    /// Like [`ProcessPool::run_all_checked`], but the first job to fail (in completion order)
    /// cancels the rest of the batch: jobs not yet submitted never are, and those submitted are
    /// stopped and reaped before this returns that first failure, so nothing of the batch is
    /// left running.
    pub async fn run_all_fail_fast<I>(&self, jobs: I) -> Result<Vec<JobResult>, JobError>
    where
        I: IntoIterator<Item = Job>,
    {
        let jobs: Vec<Job> = jobs.into_iter().collect();
        for (index, job) in jobs.iter().enumerate() {
            validate(job, Some(index))?;
        }
        let total = jobs.len();
        let mut results = self.stream(jobs);
        let mut slots: Vec<Option<JobResult>> = vec![None; total];
        let mut first_error = None;
        while let Some(item) = results.next().await {
            let error = match item {
                Ok(result) => {
                    let error = result.error();
                    let index = result.index;
                    slots[index] = Some(result);
                    error
                }
                Err(refused) => Some(refused),
            };
            if first_error.is_none()
                && let Some(error) = error
            {
                first_error = Some(error);
                results.cancel_rest();
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(slots.into_iter().flatten().collect()),
        }
    }

    /// Turns each item into a job with `to_job` and runs them all, results in input order.
    ///
    /// The pattern of a static-site generator or a batch pipeline: one job per input.
    pub async fn map<T, I, F>(&self, items: I, to_job: F) -> Result<Vec<JobResult>, JobError>
    where
        I: IntoIterator<Item = T>,
        F: FnMut(T) -> Job,
    {
        self.run_all(items.into_iter().map(to_job)).await
    }

    /// Submits the jobs as the stream is polled and yields each result as soon as it is done.
    ///
    /// At most twice the pool's worker limit of the stream's jobs are submitted and not yet
    /// yielded at a time, so `jobs` may be long or endless. An `Err` item reports a job that was
    /// not accepted (invalid, or the pool closed; after `PoolClosed` no further job is
    /// submitted). Each result's `index` is its position in `jobs`. Dropping the stream cancels
    /// the jobs still running.
    ///
    /// The jobs may borrow what they are made from: the stream lives no longer than that.
    ///
    /// ```
    /// # // It runs Unix programs (sh, echo, cat...); Windows runs its own in process-pool-native.
    /// # #[cfg(unix)]
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use futures::StreamExt;
    /// use process_pool::{job, NativeSpawner};
    ///
    /// let pool = NativeSpawner::pool(2)?;
    /// let words = vec!["a".to_owned(), "b".to_owned()];
    /// let mut results = pool.stream(words.iter().map(|w| job("echo", [w])));
    /// while let Some(result) = results.next().await {
    ///     assert!(result?.success());
    /// }
    /// # Ok(()) }
    /// # #[cfg(not(unix))]
    /// # fn main() {}
    /// ```
    pub fn stream<'a, I>(&self, jobs: I) -> ResultStream<'a>
    where
        I: IntoIterator<Item = Job>,
        I::IntoIter: Send + 'a,
    {
        ResultStream {
            _pool: self.clone(),
            inner: Arc::clone(&self.inner),
            jobs: Box::new(jobs.into_iter()),
            next_index: 0,
            exhausted: false,
            submitting: None,
            in_flight: FuturesUnordered::new(),
        }
    }

    /// Validates every job, then submits them in order. If a submission fails half-way, the
    /// jobs already submitted are cancelled and awaited before the error is returned.
    async fn submit_batch<I>(&self, jobs: I, owner: Owner) -> Result<Vec<JobHandle>, JobError>
    where
        I: IntoIterator<Item = Job>,
    {
        let jobs: Vec<Job> = jobs.into_iter().collect();
        for (index, job) in jobs.iter().enumerate() {
            validate(job, Some(index))?;
        }
        if !self.inner.is_bounded() {
            return self.inner.admit_batch(jobs, owner).await;
        }
        let total = jobs.len();
        let mut handles = Vec::with_capacity(total);
        for (index, job) in jobs.into_iter().enumerate() {
            match self.inner.submit(job, index, owner.clone()).await {
                Ok(handle) => handles.push(handle),
                Err(error) => {
                    if let Owner::Collect(collector) = &owner {
                        collector.forget(total - handles.len());
                    }
                    cancel_and_reap(handles, &owner).await;
                    return Err(error);
                }
            }
        }
        Ok(handles)
    }
}

type Submission = Pin<Box<dyn Future<Output = Result<JobHandle, JobError>> + Send>>;

/// The results of [`ProcessPool::stream`], in completion order.
#[must_use = "streams do nothing unless polled"]
pub struct ResultStream<'a> {
    /// The pool lives while the stream does.
    _pool: ProcessPool,
    inner: Arc<Inner>,
    jobs: Box<dyn Iterator<Item = Job> + Send + 'a>,
    next_index: usize,
    exhausted: bool,
    /// A submission waiting for room in a bounded queue.
    submitting: Option<Submission>,
    in_flight: FuturesUnordered<JobHandle>,
}

impl std::fmt::Debug for ResultStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultStream")
            .field("submitted", &self.next_index)
            .field("in_flight", &self.in_flight.len())
            .field("exhausted", &self.exhausted)
            .finish()
    }
}

impl ResultStream<'_> {
    /// Submits jobs until one has to wait for room or none are left. `Some` carries a job that
    /// was not accepted.
    fn submit_ready(&mut self, cx: &mut Context<'_>) -> Option<JobError> {
        loop {
            if self.submitting.is_none() {
                if self.exhausted || self.in_flight.len() >= self.window() {
                    return None;
                }
                let Some(job) = self.jobs.next() else {
                    self.exhausted = true;
                    return None;
                };
                let index = self.next_index;
                self.next_index += 1;
                let accepted = if self.inner.is_bounded() {
                    let inner = Arc::clone(&self.inner);
                    self.submitting = Some(Box::pin(async move {
                        inner.submit(job, index, Owner::Batch).await
                    }));
                    continue;
                } else {
                    validate(&job, Some(index))
                        .and_then(|()| self.inner.admit(job, index, None, Owner::Batch))
                };
                if let Some(error) = self.accept(accepted) {
                    return Some(error);
                }
            } else if let Some(submission) = self.submitting.as_mut() {
                let Poll::Ready(accepted) = submission.as_mut().poll(cx) else {
                    return None;
                };
                self.submitting = None;
                if let Some(error) = self.accept(accepted) {
                    return Some(error);
                }
            }
        }
    }

    /// How many of the stream's jobs may be in the pool at once.
    fn window(&self) -> usize {
        self.inner.max_workers().saturating_mul(2)
    }

    /// Submits nothing more and cancels the jobs in flight; the stream then yields their
    /// (cancelled) results and ends.
    pub fn cancel_rest(&mut self) {
        self.exhausted = true;
        self.submitting = None;
        for handle in self.in_flight.iter() {
            handle.cancel();
        }
    }

    fn accept(&mut self, accepted: Result<JobHandle, JobError>) -> Option<JobError> {
        match accepted {
            Ok(handle) => {
                self.in_flight.push(handle);
                None
            }
            Err(error) => {
                if matches!(error, JobError::PoolClosed) {
                    self.exhausted = true;
                }
                Some(error)
            }
        }
    }
}

impl Stream for ResultStream<'_> {
    type Item = Result<JobResult, JobError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(error) = this.submit_ready(cx) {
            return Poll::Ready(Some(Err(error)));
        }
        match this.in_flight.poll_next_unpin(cx) {
            Poll::Ready(Some(result)) => Poll::Ready(Some(Ok(result))),
            Poll::Ready(None) if this.exhausted && this.submitting.is_none() => Poll::Ready(None),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}
