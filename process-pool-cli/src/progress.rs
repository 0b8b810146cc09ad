//! The live progress bar (indicatif) on stderr: jobs done, running and failed, the rate and an
//! ETA. Only on a terminal (stdout and stderr both), and only once a run has lasted 200 ms, so
//! quick runs never flash one; cleared when the run ends. Output printed while it is shown goes
//! through [`Progress::suspend`], so lines and bar never mix.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// How long a run goes before the bar appears.
pub(crate) const SHOW_AFTER: Duration = Duration::from_millis(200);

/// The bar, or nothing when output is not a terminal.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar that stays hidden until [`Progress::reveal`]; `enabled: false` draws nothing ever.
    pub(crate) fn new(enabled: bool) -> Self {
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
            bar.set_style(style(false));
            bar
        });
        Progress { bar }
    }

    /// Starts drawing (after [`SHOW_AFTER`]).
    pub(crate) fn reveal(&self) {
        if let Some(bar) = &self.bar {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(100));
        }
    }

    /// The number of jobs in all, once the input has been read.
    pub(crate) fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_style(style(true));
        }
    }

    /// Counts now: jobs ended, running, failed.
    pub(crate) fn update(&self, done: u64, running: usize, failed: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(format!("{running} running, {failed} failed"));
        }
    }

    /// Runs `print` with the bar out of the way.
    pub(crate) fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn style(known_total: bool) -> ProgressStyle {
    let template = if known_total {
        "{spinner} {pos}/{len} done, {msg} [{wide_bar}] {rate} ETA {eta}"
    } else {
        "{spinner} {pos} done, {msg} {rate} [{elapsed}]"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
        // Jobs a second with one decimal (indicatif's `{per_sec}` shows four).
        .with_key(
            "rate",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:.1}/s", state.per_sec());
            },
        )
}
