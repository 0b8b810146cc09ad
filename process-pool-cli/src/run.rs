//! The run: inputs become jobs as slots free up, ended jobs go to the writer, and `--halt`,
//! signals and errors decide when to stop. Policy (limits, timeouts, retries and their
//! backoff, ending process trees, output caps) is the pool's; this loop only feeds it.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use process_pool::{JobResult, Output, OutputLine, ProcessPool, Stream};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use crate::halt::Halt;
use crate::input::{self, Item, Record};
use crate::joblog::GnuStatus;
use crate::output::{self, Ended, Failure, Message, Writer};
use crate::plan::Plan;
use crate::progress::{Progress, SHOW_AFTER};
use crate::signals::{Interrupt, Signals};
use crate::slots::{Positions, Slots};
use crate::stop::Stop;
use crate::template::{Tag, Template};

/// Inputs read ahead of the jobs started: enough to learn the number of jobs early when the
/// input is short, little enough that an endless stdin costs nothing.
const READ_AHEAD: usize = 64;

/// The exit status when our stdout was closed: as if SIGPIPE had ended us.
pub(crate) const BROKEN_PIPE: i32 = 141;

/// The exit status when the run could not start or go on.
const TOOL_ERROR: i32 = 255;

pub(crate) type InFlight = FuturesUnordered<Pin<Box<dyn Future<Output = Finished> + Send>>>;

/// A job's handle answered.
pub(crate) struct Finished {
    pos: u64,
    record: Record,
    slot: usize,
    id: u64,
    result: JobResult,
}

pub(crate) struct Run {
    pub(crate) pool: ProcessPool,
    pub(crate) template: Arc<Template>,
    pub(crate) slots: Slots,
    pub(crate) positions: Positions,
    pub(crate) in_flight: InFlight,
    pub(crate) halt: Halt,
    pub(crate) halt_text: String,
    pub(crate) halting: bool,
    pub(crate) stop: Stop,
    pub(crate) grace: Duration,
    pub(crate) interrupted: Option<Interrupt>,
    pub(crate) error: Option<String>,
    pub(crate) broken_pipe: bool,
    pub(crate) delay: Option<Duration>,
    pub(crate) next_start: Instant,
    pub(crate) progress: Progress,
    pub(crate) ended: u64,
    /// To the writer; `None` once every job has ended, so the writer can finish.
    pub(crate) writer: Option<mpsc::Sender<Message>>,
    /// Whether the writer needs every job (joblog, results, JSON), output or not.
    pub(crate) record_every_job: bool,
    /// With `-k`: positions sent to the writer that may still wait there for earlier jobs.
    pub(crate) sent_waiting: BTreeSet<u64>,
    /// `--line-buffer`: each job's lines go to the writer as they are written, tagged with
    /// `--tag`.
    pub(crate) live_lines: bool,
    /// Each job's output spills to a temporary file past what stays in memory.
    pub(crate) spill: bool,
    /// Records read before a slot is free for them (one with `--pipe`: blocks are big).
    pub(crate) read_ahead: usize,
    pub(crate) tag: Option<Arc<Tag>>,
}

/// Runs the plan; returns the exit status.
pub(crate) async fn run(plan: Plan) -> i32 {
    if plan.dry_run {
        return crate::dry_run::dry_run(plan).await;
    }
    let signals = match Signals::catch() {
        Ok(signals) => signals,
        Err(e) => return fail(&format!("cannot catch signals: {e}")),
    };
    let pool = match plan.pool() {
        Ok(pool) => pool,
        Err(message) => return fail(&message),
    };
    let record_every_job = plan.json || plan.joblog.is_some() || plan.results.is_some();
    let (live_lines, tag) = (plan.live_lines, plan.tag.clone().map(Arc::new));
    let progress = Progress::new(plan.progress);
    let writer = Writer::spawn(
        output::Settings {
            keep_order: plan.keep_order,
            tag: plan.tag,
            live_lines: plan.live_lines,
            json: plan.json,
            results: plan.results,
            joblog: plan.joblog,
            output_limit: plan
                .output_limit
                .unwrap_or(process_pool::DEFAULT_OUTPUT_LIMIT),
        },
        Arc::clone(&plan.template),
        progress.clone(),
    );
    let mut run = Run {
        pool,
        template: plan.template,
        slots: Slots::new(plan.workers),
        positions: Positions::new(plan.keep_order),
        in_flight: FuturesUnordered::new(),
        halt: Halt::new(plan.halt),
        halt_text: plan.halt_text,
        halting: false,
        stop: Stop::No,
        grace: plan.grace,
        interrupted: None,
        error: None,
        broken_pipe: false,
        delay: plan.delay,
        next_start: Instant::now(),
        progress: progress.clone(),
        ended: 0,
        writer: Some(writer.tx.clone()),
        record_every_job,
        sent_waiting: BTreeSet::new(),
        live_lines,
        spill: plan.spill,
        read_ahead: if plan.pipe { 1 } else { READ_AHEAD },
        tag,
    };
    let input = input::spawn(plan.input);
    let writer = run
        .feed(input, plan.skip, plan.count_first, signals, writer)
        .await;
    run.writer = None;
    if let Some(failure) = writer.finish().await {
        run.writer_failed(failure);
    }
    progress.finish();
    if run.broken_pipe {
        BROKEN_PIPE
    } else if run.error.is_some() {
        TOOL_ERROR
    } else if let Some(signal) = run.interrupted {
        signal.exit_status()
    } else {
        run.halt.exit_status()
    }
}

impl Run {
    /// The main loop; hands the writer back when every job has ended.
    async fn feed(
        &mut self,
        mut input: mpsc::Receiver<Item>,
        skip: HashSet<u64>,
        count_first: bool,
        mut signals: Signals,
        mut writer: Writer,
    ) -> Writer {
        let mut waiting = VecDeque::new();
        let mut input_open = true;
        let mut skipped = 0u64;
        if count_first {
            while let Some(item) = input.recv().await {
                if !self.take_item(item, &skip, &mut skipped, &mut waiting) {
                    break;
                }
            }
            input_open = false;
        }
        let reveal = sleep_until(Instant::now() + SHOW_AFTER);
        tokio::pin!(reveal);
        let mut revealed = false;
        loop {
            while self.can_start() {
                match waiting.pop_front() {
                    Some(record) => self.start(record).await,
                    None => break,
                }
            }
            let more_input = input_open || !waiting.is_empty();
            if self.in_flight.is_empty() && (!more_input || !self.accepting()) {
                break;
            }
            let want_input = input_open && waiting.len() < self.read_ahead && self.accepting();
            let delayed =
                self.delay.is_some() && self.accepting() && Instant::now() < self.next_start;
            let deadline = match self.stop {
                Stop::Soft(deadline) => Some(deadline),
                _ => None,
            };
            tokio::select! {
                biased;
                signal = signals.next() => self.interrupt(signal).await,
                Some(done) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.finished(done).await;
                }
                outcome = &mut writer.done, if !writer.heard => {
                    writer.heard = true;
                    if let Ok(Some(failure)) = outcome {
                        self.writer_failed(failure);
                        self.stop_hard().await;
                    }
                }
                item = input.recv(), if want_input => match item {
                    Some(item) => {
                        if !self.take_item(item, &skip, &mut skipped, &mut waiting) {
                            input_open = false;
                        }
                    }
                    None => input_open = false,
                },
                () = sleep_until(self.next_start), if delayed => {}
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.say("grace is over: ending the jobs still running");
                    self.stop_hard().await;
                }
                () = &mut reveal, if !revealed => {
                    revealed = true;
                    self.progress.reveal();
                }
            }
        }
        writer
    }

    /// Takes one item from the input; false once the input is over.
    fn take_item(
        &mut self,
        item: Item,
        skip: &HashSet<u64>,
        skipped: &mut u64,
        waiting: &mut VecDeque<Record>,
    ) -> bool {
        match item {
            Item::Record(record) if skip.contains(&record.seq) => {
                *skipped += 1;
                true
            }
            Item::Record(record) => {
                waiting.push_back(record);
                true
            }
            Item::End(total) => {
                let total = total - *skipped;
                self.halt.set_total(total);
                self.progress.set_total(total);
                false
            }
            Item::Failed(message) => {
                self.say(&message);
                self.error = Some(message);
                false
            }
        }
    }

    /// Whether new jobs may start at all.
    fn accepting(&self) -> bool {
        self.stop == Stop::No && !self.halting && self.error.is_none() && !self.broken_pipe
    }

    /// Whether a job may start now.
    fn can_start(&self) -> bool {
        self.accepting()
            && self.slots.any_free()
            && self.positions.room()
            && (self.delay.is_none() || Instant::now() >= self.next_start)
    }

    async fn start(&mut self, mut record: Record) {
        let Some(slot) = self.slots.take() else {
            return;
        };
        if record.block.is_some() && !self.template.appends_input() {
            // As GNU parallel: with --pipe, `{}` stands for an empty value.
            record.args = vec![Vec::new()];
        }
        let mut job = match self.template.job(&record.args, record.seq, slot) {
            Ok(job) => job,
            Err(error) => {
                // A value this OS's command line cannot carry: a failed job that never ran.
                self.slots.put_back(slot);
                self.say(&format!("job {} cannot run: {error}", record.seq));
                let when = self.halt.ended(false, TOOL_ERROR);
                self.halt_if(when).await;
                return;
            }
        };
        // As GNU parallel: the job's number and slot in its environment too.
        job = job
            .env("PARALLEL_SEQ", record.seq.to_string())
            .env("PARALLEL_JOBSLOT", slot.to_string());
        if self.spill {
            job = job.stdout(Output::spill()).stderr(Output::spill());
        }
        if let Some(block) = record.block.take() {
            job = job.stdin(block);
        }
        if self.live_lines
            && let Some(writer) = &self.writer
        {
            job = job.output_lines(self.forward_lines(writer.clone(), &record, slot));
        }
        if let Some(delay) = self.delay {
            self.next_start = Instant::now() + delay;
        }
        self.halt.started();
        match self.pool.submit(job).await {
            Ok(handle) => {
                let id = handle.id().get();
                self.slots.hold(id, slot);
                let pos = self.positions.next();
                self.progress
                    .update(self.ended, self.in_flight.len() + 1, self.halt.failed());
                self.in_flight.push(Box::pin(async move {
                    let result = handle.await;
                    Finished {
                        pos,
                        record,
                        slot,
                        id,
                        result,
                    }
                }));
            }
            Err(error) => {
                // The pool refused the job (an empty program name, say): a failed job that
                // never ran, named here since it has no result to print.
                self.slots.put_back(slot);
                self.say(&format!("job {} was refused: {error}", record.seq));
                let when = self.halt.ended(false, TOOL_ERROR);
                self.halt_if(when).await;
            }
        }
    }

    async fn finished(&mut self, done: Finished) {
        self.slots.release(done.id);
        self.positions.ended(done.pos);
        let result = &done.result;
        if !result.cancelled() {
            let status = GnuStatus::of(&result.outcome).shell_status();
            let when = self.halt.ended(result.success(), status);
            if when.is_some() && !result.success() {
                let command = self
                    .template
                    .text(&done.record.args, done.record.seq, done.slot);
                self.say(&format!("this job failed: {command}"));
            }
            self.halt_if(when).await;
        }
        self.ended += 1;
        self.progress
            .update(self.ended, self.in_flight.len(), self.halt.failed());
        self.hand_over(done).await;
        if let Stop::Soft(_) = self.stop
            && !self.in_flight.is_empty()
            && self.pool.stats().running == 0
        {
            // Only jobs that wait (to retry) are left: they will not start.
            self.stop_hard().await;
        }
    }

    /// A channel for a job's live lines, and a task that hands them to the writer, each with
    /// the job's `--tag` where it starts a line; it ends with the job.
    fn forward_lines(
        &self,
        writer: mpsc::Sender<Message>,
        record: &Record,
        slot: usize,
    ) -> mpsc::Sender<OutputLine> {
        let (lines, mut live) = mpsc::channel::<OutputLine>(64);
        let tag: Option<Arc<[u8]>> = self
            .tag
            .as_ref()
            .map(|tag| tag.render(&record.args, record.seq, slot).into());
        tokio::spawn(async move {
            // Per stream: whether the next piece starts a line (a long line comes in pieces).
            let mut at_start = [true, true];
            while let Some(line) = live.recv().await {
                let stream = usize::from(line.stream == Stream::Stderr);
                let tag = tag.clone().filter(|_| at_start[stream]);
                at_start[stream] = line.complete;
                if writer.send(Message::Line { tag, line }).await.is_err() {
                    return;
                }
            }
        });
        lines
    }

    /// Hands an ended job to the writer, unless it has nothing to do with it; with `-k`, says
    /// which buffered jobs may now print.
    async fn hand_over(&mut self, done: Finished) {
        let Some(writer) = &self.writer else { return };
        let below = self.positions.earliest();
        let message = if self.record_every_job || !output::is_silent(&done.result) {
            let ended = Ended {
                pos: done.pos,
                record: done.record,
                slot: done.slot,
                result: done.result,
                ended_at: SystemTime::now(),
            };
            if ended.pos >= below {
                self.sent_waiting.insert(ended.pos);
            }
            Message::Ended {
                ended: Box::new(ended),
                printable_below: below,
            }
        } else if self
            .sent_waiting
            .first()
            .is_some_and(|&first| first < below)
        {
            Message::PrintableBelow(below)
        } else {
            return;
        };
        self.sent_waiting = self.sent_waiting.split_off(&below);
        let _ = writer.send(message).await;
    }

    fn writer_failed(&mut self, failure: Failure) {
        match failure {
            Failure::BrokenPipe => self.broken_pipe = true,
            Failure::Other(message) => {
                self.say(&message);
                self.error.get_or_insert(message);
            }
        }
    }

    pub(crate) fn say(&self, message: &str) {
        self.progress.suspend(|| eprintln!("ppool: {message}"));
    }
}

/// Says why the run could not start or go on; the exit status for it.
pub(crate) fn fail(message: &str) -> i32 {
    eprintln!("ppool: {message}");
    TOOL_ERROR
}
