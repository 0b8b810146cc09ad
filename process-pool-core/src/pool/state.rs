//! What the job pool keeps under its lock: the engine's [`Core`] (queue, retry waits, pause,
//! life, tally) and its worker slots, and the rules that move a job between them.

use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::handle::JobTicket;
use crate::engine::queue::QueueKey;
use crate::engine::tally::End;
use crate::engine::{Core, Queued};

/// A job waiting to run (again). Boxed so that queueing and handing it on moves a pointer.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) ticket: JobTicket,
    /// Attempts already made.
    pub(crate) attempts: u32,
    /// This job's place in a bounded queue, given back when it leaves the queue.
    pub(crate) room: Option<OwnedSemaphorePermit>,
    /// When it was submitted (see [`RunContext::submitted_at`](crate::backend::RunContext::submitted_at)).
    pub(crate) submitted: Instant,
}

impl Entry {
    fn leave_queue(mut self: Box<Self>) -> Box<Self> {
        self.room = None;
        self
    }
}

impl Queued for Box<Entry> {
    fn key(&self) -> QueueKey {
        self.ticket.key
    }
}

/// A worker's place: the job it runs and the token that stops it.
///
/// Tokens belong to slots, not jobs, so a job costs no token of its own: a handle cancels its
/// job through the pool, which cancels the token of the slot running it. A cancelled token is
/// spent and replaced before the slot's next job.
#[derive(Debug)]
struct Slot {
    job: Option<u64>,
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

/// What a cancel found.
#[derive(Debug)]
pub(crate) enum Cancelled {
    /// The job was queued or waiting to retry and has been taken out: answer it.
    Withdrawn(Box<Entry>),
    /// The job was running: its slot's token was cancelled.
    Signalled,
    /// The job had ended (or is ending).
    NotFound,
}

/// What a worker reports about the job it just ran, counted when it takes its next one.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// An attempt started, after its job waited this long if it was the job's first.
    pub(crate) started: Option<Option<Duration>>,
    /// How long the attempt ran.
    pub(crate) ran: Option<Duration>,
    /// A retry follows.
    pub(crate) retried: bool,
    /// How the job ended, if it did.
    pub(crate) ended: Option<End>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) core: Core<Box<Entry>>,
    slots: Vec<Slot>,
    free_slots: Vec<usize>,
    /// Worker tasks alive; each runs one job at a time.
    pub(crate) running: usize,
    pub(crate) max_workers: usize,
}

impl State {
    pub(crate) fn new(max_workers: usize) -> Self {
        State {
            core: Core::default(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            running: 0,
            max_workers,
        }
    }

    pub(crate) fn stats(&self) -> crate::Stats {
        let (queued, retrying) = self.core.lengths();
        self.core.tally.snapshot(
            (self.running, queued, retrying),
            self.max_workers,
            self.core.pause.is_paused(),
        )
    }

    /// Whether a new worker may start now.
    fn may_start(&self) -> bool {
        self.core.may_dispatch() && self.running < self.max_workers
    }

    /// Starts an accepted job if a worker may start, else queues it. Returns the job, its slot
    /// and its token when a worker must be started for it.
    pub(crate) fn place(
        &mut self,
        entry: Box<Entry>,
    ) -> Option<(Box<Entry>, usize, CancellationToken)> {
        if self.may_start() {
            let (slot, token) = self.occupy(entry.ticket.id);
            Some((entry.leave_queue(), slot, token))
        } else {
            self.core.queue.push(entry.ticket.key, entry);
            None
        }
    }

    /// After the job of `slot` (counted from `report`): its next job, or retirement when the
    /// queue is empty, more workers are alive than the limit, or the pool stopped. Decided
    /// together with the worker count, so a job queued meanwhile always finds a worker.
    pub(crate) fn next(&mut self, slot: usize, report: &Report) -> Next {
        self.record(report);
        if self.core.may_dispatch()
            && self.running <= self.max_workers
            && let Some(entry) = self.core.queue.pop()
        {
            let fresh = self.assign(slot, entry.ticket.id);
            return Next::Run(entry.leave_queue(), fresh);
        }
        self.vacate(slot);
        Next::Retire
    }

    fn record(&mut self, report: &Report) {
        let tally = &mut self.core.tally;
        if let Some(waited) = report.started {
            tally.started(waited);
        }
        if let Some(took) = report.ran {
            tally.ran(took);
        }
        if report.retried {
            tally.retried();
        }
        if let Some(end) = report.ended {
            tally.ended(end);
        }
    }

    /// The next queued job for a new worker, if the limit allows one.
    pub(crate) fn pop_for_new_worker(&mut self) -> Option<(Box<Entry>, usize, CancellationToken)> {
        if !self.may_start() {
            return None;
        }
        let entry = self.core.queue.pop()?;
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
    pub(crate) fn cancel(&mut self, id: u64, key: &QueueKey) -> Cancelled {
        let withdrawn = match self.core.queue.remove(key) {
            Some(entry) => Some(entry.leave_queue()),
            None => self.core.take_waiting(id),
        };
        if let Some(entry) = withdrawn {
            self.core.tally.ended(End::Cancelled);
            return Cancelled::Withdrawn(entry);
        }
        if let Some(slot) = self.slots.iter_mut().find(|s| s.job == Some(id)) {
            slot.spent = true;
            slot.token.cancel();
            return Cancelled::Signalled;
        }
        Cancelled::NotFound
    }

    /// Takes a job that will be retried out of its worker's slot, so that a cancel finds it in
    /// the queue or the retry wait, not running; `Err` gives it back if its slot was cancelled
    /// since its attempt ended (it is then not retried).
    pub(crate) fn leave_slot_for_retry(
        &mut self,
        slot: usize,
        entry: Box<Entry>,
    ) -> Result<Box<Entry>, Box<Entry>> {
        let slot = &mut self.slots[slot];
        if slot.spent {
            return Err(entry);
        }
        slot.job = None;
        Ok(entry)
    }

    /// Stops everything: no job starts any more, running jobs are cancelled, and the queued
    /// and waiting jobs are returned to be answered.
    #[allow(
        clippy::vec_box,
        reason = "entries travel boxed; unboxing here would move each one"
    )]
    pub(crate) fn stop(&mut self) -> Vec<Box<Entry>> {
        for slot in self.slots.iter_mut().filter(|s| s.job.is_some()) {
            slot.spent = true;
            slot.token.cancel();
        }
        self.core
            .stop()
            .into_iter()
            .map(Entry::leave_queue)
            .collect()
    }

    /// Counts a new worker in, in a free slot, running job `id`.
    fn occupy(&mut self, id: u64) -> (usize, CancellationToken) {
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

    /// Gives `slot` job `id`, renewing its token if it was cancelled (only the pool cancels a
    /// slot's token, and marks it spent when it does); returns the new token then.
    fn assign(&mut self, slot: usize, id: u64) -> Option<CancellationToken> {
        let slot = &mut self.slots[slot];
        slot.job = Some(id);
        if !slot.spent {
            return None;
        }
        slot.spent = false;
        slot.token = CancellationToken::new();
        Some(slot.token.clone())
    }
}
