//! What the pool keeps under its lock: the queue, the worker slots, the jobs waiting to retry,
//! and the rules that move a job between them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::handle::Ticket;
use crate::queue::{Queue, QueueKey};
use crate::result::{JobId, Outcome};
use crate::stats::{Report, Stats, Tally};

/// A job waiting to run (again). Boxed so that queueing and handing it on moves a pointer.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) ticket: Ticket,
    /// Attempts already made.
    pub(crate) attempts: u32,
    /// This job's place in a bounded queue, given back when it leaves the queue.
    pub(crate) room: Option<OwnedSemaphorePermit>,
    /// When it was submitted (see [`RunContext::submitted_at`](crate::RunContext::submitted_at)).
    pub(crate) submitted: Instant,
}

impl Entry {
    pub(crate) fn leave_queue(mut self: Box<Self>) -> Box<Self> {
        self.room = None;
        self
    }
}

/// A worker's place: the job it runs and the token that stops it.
///
/// Tokens belong to slots, not jobs, so a job costs no token of its own: a handle cancels its
/// job through the pool, which cancels the token of the slot running it. A cancelled token is
/// spent and replaced before the slot's next job.
#[derive(Debug)]
struct Slot {
    job: Option<JobId>,
    token: CancellationToken,
    spent: bool,
}

/// Where a worker stands after its job.
#[derive(Debug)]
pub(crate) enum Next {
    /// Run this job; with a new token when the old one was spent.
    Run(Box<Entry>, Option<CancellationToken>),
    /// Stop: the worker has been counted out.
    Retire,
}

/// Where an accepted job goes.
#[derive(Debug)]
pub(crate) enum Placement {
    /// To a new worker, in this slot, stopped by this token.
    Run(Box<Entry>, usize, CancellationToken),
    Queued,
    /// Nowhere: the pool has stopped.
    Refused(Box<Entry>),
}

/// Where a job that will be retried went.
#[derive(Debug)]
pub(crate) enum HandOver {
    /// It was cancelled after its attempt ended: answer it `Cancelled`, do not retry.
    Cancelled(Box<Entry>),
    /// It waits out its backoff; the token ends the wait early if it is cancelled.
    Waiting(Box<Entry>, CancellationToken),
    /// It went straight back in line (no backoff).
    Placed(Placement),
}

/// What a cancel found.
#[derive(Debug)]
pub(crate) enum Cancelled {
    /// The job was queued and has been taken out: answer it.
    Withdrawn(Box<Entry>),
    /// The job was running or waiting to retry: its token was cancelled.
    Signalled,
    /// The job had ended (or is ending).
    NotFound,
}

#[derive(Debug)]
pub(crate) struct State {
    queue: Queue<Box<Entry>>,
    slots: Vec<Slot>,
    free_slots: Vec<usize>,
    /// Jobs waiting out a retry backoff, with the token that ends their wait.
    retrying: HashMap<JobId, CancellationToken>,
    /// Worker tasks alive; each runs one job at a time.
    pub(crate) running: usize,
    pub(crate) max_workers: usize,
    pub(crate) closed: bool,
    /// A shutdown ran out of grace: nothing starts any more.
    stopped: bool,
    /// Dispatch is paused: queued jobs wait, running ones go on.
    pub(crate) paused: bool,
    /// Counts pauses and resumes, so that a timed pause ends only if nothing came after it.
    pub(crate) pause_epoch: u64,
    pub(crate) tally: Tally,
}

impl State {
    pub(crate) fn new(max_workers: usize) -> Self {
        State {
            queue: Queue::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            retrying: HashMap::new(),
            running: 0,
            max_workers,
            closed: false,
            stopped: false,
            paused: false,
            pause_epoch: 0,
            tally: Tally::default(),
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        self.tally.snapshot(
            self.running,
            self.queue.len(),
            self.max_workers,
            self.paused,
        )
    }

    pub(crate) fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Starts an accepted job if a worker is free, else queues it.
    pub(crate) fn place(&mut self, entry: Box<Entry>) -> Placement {
        if self.stopped {
            self.tally.ended(&Outcome::Cancelled);
            Placement::Refused(entry)
        } else if !self.paused && self.running < self.max_workers {
            let (slot, token) = self.occupy(entry.ticket.id);
            Placement::Run(entry.leave_queue(), slot, token)
        } else {
            self.queue.push(entry.ticket.key, entry);
            Placement::Queued
        }
    }

    /// After the job of `slot` (counted from `report`): its next job, or retirement when the
    /// queue is empty, more workers are alive than the limit, or the pool stopped. Decided
    /// together with the worker count, so a job queued meanwhile always finds a worker.
    pub(crate) fn next(&mut self, slot: usize, report: &Report) -> Next {
        self.tally.record(report);
        if !self.stopped
            && !self.paused
            && self.running <= self.max_workers
            && let Some(entry) = self.queue.pop()
        {
            let fresh = self.assign(slot, entry.ticket.id);
            return Next::Run(entry.leave_queue(), fresh);
        }
        self.vacate(slot);
        Next::Retire
    }

    /// The next queued job for a new worker, if the limit allows one.
    pub(crate) fn pop_for_new_worker(&mut self) -> Option<(Box<Entry>, usize, CancellationToken)> {
        if self.stopped || self.paused || self.running >= self.max_workers {
            return None;
        }
        let entry = self.queue.pop()?;
        let (slot, token) = self.occupy(entry.ticket.id);
        Some((entry.leave_queue(), slot, token))
    }

    /// Counts a worker out.
    pub(crate) fn vacate(&mut self, slot: usize) {
        self.running -= 1;
        self.slots[slot].job = None;
        self.free_slots.push(slot);
    }

    /// Cancels job `id` wherever it is.
    pub(crate) fn cancel(&mut self, id: JobId, key: &QueueKey) -> Cancelled {
        if let Some(entry) = self.queue.remove(key) {
            self.tally.ended(&Outcome::Cancelled);
            return Cancelled::Withdrawn(entry.leave_queue());
        }
        if let Some(slot) = self.slots.iter_mut().find(|s| s.job == Some(id)) {
            slot.spent = true;
            slot.token.cancel();
            return Cancelled::Signalled;
        }
        if let Some(token) = self.retrying.remove(&id) {
            token.cancel();
            return Cancelled::Signalled;
        }
        Cancelled::NotFound
    }

    /// Moves a job that will be retried out of its worker's slot, to a retry wait or straight
    /// back in line, in one step: a cancel always finds it in exactly one place. A job whose
    /// slot was cancelled since its attempt ended is not retried.
    pub(crate) fn hand_over_for_retry(
        &mut self,
        slot: usize,
        entry: Box<Entry>,
        delay: Duration,
    ) -> HandOver {
        let slot = &mut self.slots[slot];
        if slot.spent {
            return HandOver::Cancelled(entry);
        }
        slot.job = None;
        if delay.is_zero() {
            return HandOver::Placed(self.place(entry));
        }
        // A stopped pool has marked every busy slot spent, so it never gets here.
        let token = CancellationToken::new();
        self.retrying.insert(entry.ticket.id, token.clone());
        HandOver::Waiting(entry, token)
    }

    /// Ends a job's retry wait; `false` if a cancel ended it first.
    pub(crate) fn end_retry_wait(&mut self, id: JobId) -> bool {
        self.retrying.remove(&id).is_some()
    }

    /// Counts a job cancelled while it waited to retry.
    pub(crate) fn retry_wait_cancelled(&mut self) {
        self.tally.ended(&Outcome::Cancelled);
    }

    /// Stops everything: no job starts any more, running jobs and retry waits are cancelled,
    /// and the queued jobs are returned to be answered.
    #[allow(
        clippy::vec_box,
        reason = "entries travel boxed; unboxing here would move each one"
    )]
    pub(crate) fn stop(&mut self) -> Vec<Box<Entry>> {
        self.stopped = true;
        for slot in self.slots.iter_mut().filter(|s| s.job.is_some()) {
            slot.spent = true;
            slot.token.cancel();
        }
        for (_, token) in self.retrying.drain() {
            token.cancel();
        }
        let queued = self.queue.take_all();
        for _ in &queued {
            self.tally.ended(&Outcome::Cancelled);
        }
        queued.into_iter().map(Entry::leave_queue).collect()
    }

    /// Counts a new worker in, in a free slot, running job `id`.
    fn occupy(&mut self, id: JobId) -> (usize, CancellationToken) {
        self.running += 1;
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    job: None,
                    token: CancellationToken::new(),
                    spent: false,
                });
                self.slots.len() - 1
            }
        };
        self.assign(slot, id);
        (slot, self.slots[slot].token.clone())
    }

    /// Gives `slot` job `id`, renewing its token if it was cancelled (by a cancel of the pool's
    /// or by anyone else); returns the new token then.
    fn assign(&mut self, slot: usize, id: JobId) -> Option<CancellationToken> {
        let slot = &mut self.slots[slot];
        slot.job = Some(id);
        if !slot.spent && !slot.token.is_cancelled() {
            return None;
        }
        slot.spent = false;
        slot.token = CancellationToken::new();
        Some(slot.token.clone())
    }
}
