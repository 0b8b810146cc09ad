//! Answer exactly once: a [`Ticket`] per accepted job or call, the [`Receipt`] its submitter
//! awaits, the [`Collector`] of a batch that takes all its answers at once, and [`Pending`],
//! the count of unanswered work that `drain` waits on.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::sync::{Notify, oneshot};

use super::queue::QueueKey;

/// What a pool runs (a job, a call): it knows the answer to give if it is dropped unanswered.
pub(crate) trait Work: Send + 'static {
    /// What the submitter receives.
    type Answer: Send + 'static;

    /// The answer for work whose ticket is dropped before it was answered: the runtime
    /// shutting down under the pool, say. Always a cancellation.
    fn abandoned(&mut self, id: u64, index: usize) -> Self::Answer;
}

/// Counts the work accepted and not yet answered, and wakes `drain` at zero.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    count: AtomicUsize,
    idle: Notify,
}

impl Pending {
    /// Counts `n` more accepted pieces of work; each one's ticket counts itself out.
    pub(crate) fn add(&self, n: usize) {
        self.count.fetch_add(n, Ordering::AcqRel);
    }

    /// Counts `n` out at once.
    pub(crate) fn done(&self, n: usize) {
        if n > 0 && self.count.fetch_sub(n, Ordering::AcqRel) == n {
            self.idle.notify_waiters();
        }
    }

    /// How many are unanswered now.
    #[cfg(test)]
    pub(crate) fn get(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Completes once nothing accepted is left unanswered.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Register before looking, so a `done` between the look and the wait is not missed.
            notified.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// The answers of a batch that takes them all at once (`run_all`, `call_many`): a cell per
/// piece of work, written by whoever answers it, and a count of cells still empty. The batch
/// is woken once, when the last one is in: no channel and no wake per piece.
#[derive(Debug)]
pub(crate) struct Collector<A> {
    cells: Vec<Mutex<Option<A>>>,
    empty: Pending,
}

impl<A> Collector<A> {
    pub(crate) fn new(n: usize) -> Self {
        let empty = Pending::default();
        empty.add(n);
        Collector {
            cells: (0..n).map(|_| Mutex::new(None)).collect(),
            empty,
        }
    }

    fn put(&self, index: usize, answer: A) {
        debug_assert!(index < self.cells.len(), "a batch indexes its own cells");
        if let Some(cell) = self.cells.get(index) {
            *cell.lock().unwrap_or_else(PoisonError::into_inner) = Some(answer);
            self.empty.done(1);
        }
    }

    /// Stops waiting for `n` pieces that were never submitted.
    pub(crate) fn forget(&self, n: usize) {
        self.empty.done(n);
    }

    /// Completes once every submitted piece has its answer in.
    pub(crate) async fn filled(&self) {
        self.empty.wait_idle().await;
    }

    /// The answers, in input order; `None` for a piece never submitted.
    pub(crate) fn take(&self) -> Vec<Option<A>> {
        self.cells
            .iter()
            .map(|cell| cell.lock().unwrap_or_else(PoisonError::into_inner).take())
            .collect()
    }
}

/// Where a ticket's answer goes.
#[derive(Debug)]
enum Reply<A> {
    Handle(oneshot::Sender<A>),
    Collect(Arc<Collector<A>>),
    Given,
}

/// Where the submitter wants the answer.
#[derive(Debug)]
pub(crate) enum Destination<A> {
    /// Through a [`Receipt`].
    Receipt,
    /// Into the batch's cell at the ticket's index.
    Collect(Arc<Collector<A>>),
}

impl<A> Clone for Destination<A> {
    fn clone(&self) -> Self {
        match self {
            Destination::Receipt => Destination::Receipt,
            Destination::Collect(c) => Destination::Collect(Arc::clone(c)),
        }
    }
}

/// One accepted piece of work on its way through a pool: queued, running, waiting to retry.
///
/// It owns the work and where its answer goes. Whoever holds it answers by
/// [`Ticket::answer`]; if it is ever dropped unanswered, its `Drop` answers with
/// [`Work::abandoned`]. So every accepted piece gets exactly one answer, and the pool's
/// [`Pending`] count falls exactly once per piece.
#[derive(Debug)]
pub(crate) struct Ticket<W: Work> {
    pub(crate) id: u64,
    pub(crate) index: usize,
    pub(crate) key: QueueKey,
    pub(crate) work: W,
    reply: Reply<W::Answer>,
    pending: Arc<Pending>,
}

impl<W: Work> Ticket<W> {
    /// A ticket for `work`, and the receipt its answer will reach (none when it goes to a
    /// batch's cell). The caller has counted it in `pending`.
    pub(crate) fn issue(
        id: u64,
        index: usize,
        priority: i32,
        work: W,
        to: &Destination<W::Answer>,
        pending: &Arc<Pending>,
    ) -> (Self, Option<Receipt<W::Answer>>) {
        let (reply, receipt) = match to {
            Destination::Collect(collector) => (Reply::Collect(Arc::clone(collector)), None),
            Destination::Receipt => {
                let (tx, rx) = oneshot::channel();
                (Reply::Handle(tx), Some(Receipt(Some(rx))))
            }
        };
        let ticket = Ticket {
            id,
            index,
            key: QueueKey::new(priority, id),
            work,
            reply,
            pending: Arc::clone(pending),
        };
        (ticket, receipt)
    }

    /// Hands the answer over (to a receipt, if anyone still holds it, or a batch's cell).
    /// Returns `false`, giving nothing, if it was answered before.
    pub(crate) fn answer(&mut self, answer: W::Answer) -> bool {
        let given = match std::mem::replace(&mut self.reply, Reply::Given) {
            // The receipt may be gone; the work is answered all the same.
            Reply::Handle(tx) => {
                drop(tx.send(answer));
                true
            }
            Reply::Collect(collector) => {
                collector.put(self.index, answer);
                true
            }
            Reply::Given => false,
        };
        if given {
            self.pending.done(1);
        }
        given
    }

    /// Whether it has been answered (a call answered by a timeout may still be on a worker).
    pub(crate) fn is_answered(&self) -> bool {
        matches!(self.reply, Reply::Given)
    }

    /// Marks work the pool refused before accepting it: it goes without an answer (its
    /// submitter gets the refusal as an error instead), and is counted out.
    pub(crate) fn refuse(mut self) {
        if !self.is_answered() {
            self.reply = Reply::Given;
            self.pending.done(1);
        }
    }
}

impl<W: Work> Drop for Ticket<W> {
    fn drop(&mut self) {
        if !self.is_answered() {
            let answer = self.work.abandoned(self.id, self.index);
            self.answer(answer);
        }
    }
}

/// The receiving end of a ticket: completes with its answer, or `None` if the ticket vanished
/// without answering (which a pool never lets happen).
#[derive(Debug)]
pub(crate) struct Receipt<A>(Option<oneshot::Receiver<A>>);

impl<A> Receipt<A> {
    /// A receipt that completes at once with `None`.
    pub(crate) fn none() -> Self {
        Receipt(None)
    }
}

impl<A> Future for Receipt<A> {
    type Output = Option<A>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<A>> {
        let Some(rx) = self.0.as_mut() else {
            return Poll::Ready(None);
        };
        let answer = std::task::ready!(Pin::new(rx).poll(cx)).ok();
        // A channel is read once; polling again afterwards is answered, not a panic.
        self.0 = None;
        Poll::Ready(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Named(&'static str);

    impl Work for Named {
        type Answer = String;
        fn abandoned(&mut self, id: u64, _: usize) -> String {
            format!("{} #{id} abandoned", self.0)
        }
    }

    #[tokio::test]
    async fn each_ticket_answers_once_and_a_dropped_one_answers_abandoned() {
        let pending = Arc::new(Pending::default());
        pending.add(2);
        let (mut a, receipt_a) =
            Ticket::issue(1, 0, 0, Named("a"), &Destination::Receipt, &pending);
        let (b, receipt_b) = Ticket::issue(2, 1, 0, Named("b"), &Destination::Receipt, &pending);
        assert!(a.answer("done".into()));
        assert!(!a.answer("again".into()), "a second answer is refused");
        drop(b);
        assert_eq!(receipt_a.expect("a receipt").await.as_deref(), Some("done"));
        assert_eq!(
            receipt_b.expect("a receipt").await.as_deref(),
            Some("b #2 abandoned")
        );
        assert_eq!(pending.get(), 0);
        drop(a);
        assert_eq!(
            pending.get(),
            0,
            "dropping an answered ticket counts nothing"
        );
    }

    #[tokio::test]
    async fn a_collector_fills_by_index_and_wakes_once_full() {
        let pending = Arc::new(Pending::default());
        let collector = Arc::new(Collector::new(3));
        let to = Destination::Collect(Arc::clone(&collector));
        pending.add(2);
        let (mut t0, none) = Ticket::issue(7, 0, 0, Named("x"), &to, &pending);
        assert!(none.is_none());
        let (t2, _) = Ticket::issue(8, 2, 0, Named("y"), &to, &pending);
        t0.answer("zero".into());
        t2.refuse();
        collector.forget(2);
        collector.filled().await;
        assert_eq!(collector.take(), [Some("zero".to_owned()), None, None]);
        assert_eq!(pending.get(), 0);
    }
}
