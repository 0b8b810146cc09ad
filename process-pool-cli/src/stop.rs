//! Stopping a run: `--halt` reached, Ctrl-C (once: no new jobs, a grace for running ones;
//! twice: end them now), SIGTERM and SIGHUP (end them now). Ending jobs is the pool's
//! `shutdown`: their whole process trees, every one reaped.

use std::time::Duration;

use tokio::time::Instant;

use crate::halt::When;
use crate::run::Run;
use crate::signals::Interrupt;

/// Where a run is on its way to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Starting jobs.
    No,
    /// No new job; running jobs may finish until then.
    Soft(Instant),
    /// Every job has been ended.
    Hard,
}

impl Run {
    pub(crate) async fn halt_if(&mut self, when: Option<When>) {
        match when {
            Some(When::Now) if self.stop != Stop::Hard => {
                self.say(&format!(
                    "--halt {}: ending the running jobs",
                    self.halt_text
                ));
                self.stop_hard().await;
            }
            Some(When::Soon) if !self.halting => {
                self.halting = true;
                let running = self.in_flight.len();
                if running > 0 {
                    self.say(&format!(
                        "--halt {}: starting no more jobs, waiting for {running} to finish",
                        self.halt_text
                    ));
                }
            }
            _ => {}
        }
    }

    pub(crate) async fn interrupt(&mut self, signal: Interrupt) {
        self.interrupted.get_or_insert(signal);
        let running = self.in_flight.len();
        match (signal, self.stop) {
            (Interrupt::Int, Stop::No) => {
                self.pool.pause();
                self.stop = Stop::Soft(Instant::now() + self.grace);
                self.say(&format!(
                    "interrupted: no new jobs; {running} running may take {} to finish (Ctrl-C again to end them now)",
                    crate::units::show_duration(self.grace)
                ));
                if running > 0 && self.pool.stats().running == 0 {
                    self.stop_hard().await;
                }
            }
            (_, Stop::Hard) => {}
            _ => {
                if running > 0 {
                    self.say(&format!("ending {running} running jobs"));
                }
                self.stop_hard().await;
            }
        }
    }

    /// Ends every job: queued ones are answered cancelled, running ones have their process
    /// trees ended (TERM, the kill grace, KILL) and are reaped before this returns.
    pub(crate) async fn stop_hard(&mut self) {
        if self.stop == Stop::Hard {
            return;
        }
        self.stop = Stop::Hard;
        self.pool.shutdown(Duration::ZERO).await;
    }
}
