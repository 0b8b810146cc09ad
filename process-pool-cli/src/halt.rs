//! `--halt` and the exit status, both as GNU parallel decides them.
//!
//! `--halt now|soon,fail|success|done=N|P%` stops the run once N jobs (or P% of all jobs) have
//! failed, succeeded or ended: `soon` starts no new job and lets running ones finish, `now`
//! ends them. The exit status is the number of failed jobs (101 for more than 100); with a
//! percentage, the percentage of jobs that failed; with `fail=1` or `done=1`, the exit status of
//! the job that triggered the halt (a signal as 128 + its number); `success` that is reached
//! exits 0.

/// When the run stops once the condition is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    /// Start no new job; running jobs finish.
    Soon,
    /// End running jobs at once.
    Now,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Fail,
    Success,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Threshold {
    Count(u64),
    Fraction(f64),
}

/// A parsed `--halt`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct HaltSpec {
    when: When,
    why: Why,
    threshold: Threshold,
}

impl HaltSpec {
    /// Parses GNU parallel's forms: `never`, `now,fail=1`, `soon,success=30%`, `done=…`, and the
    /// old short ones (`0`, `1`, `2`, `-1`, `-2`, `N%`). `None` is `never`.
    pub(crate) fn parse(text: &str) -> Result<Option<HaltSpec>, String> {
        let long = match text {
            "0" | "never" => return Ok(None),
            "1" => "soon,fail=1",
            "2" => "now,fail=1",
            "-1" => "soon,success=1",
            "-2" => "now,success=1",
            other => other,
        };
        let owned;
        let long = if long.ends_with('%') && !long.contains(',') {
            owned = format!("soon,fail={long}");
            owned.as_str()
        } else {
            long
        };
        let bad = |why: &str| {
            format!(
                "--halt `{text}`: {why} (examples: now,fail=1  soon,fail=3  now,success=1  soon,done=10%)"
            )
        };
        let (when, rest) = long
            .split_once(',')
            .ok_or_else(|| bad("expected WHEN,WHY=N"))?;
        let when = match when {
            "now" => When::Now,
            "soon" => When::Soon,
            _ => return Err(bad("WHEN must be `now` or `soon`")),
        };
        let (why, amount) = rest.split_once('=').ok_or_else(|| bad("expected WHY=N"))?;
        let why = match why {
            "fail" => Why::Fail,
            "success" => Why::Success,
            "done" => Why::Done,
            _ => return Err(bad("WHY must be `fail`, `success` or `done`")),
        };
        let threshold = match amount.strip_suffix('%') {
            Some(pct) => match pct.parse::<u64>() {
                Ok(p) if (1..=100).contains(&p) => Threshold::Fraction(p as f64 / 100.0),
                _ => return Err(bad("a percentage is 1% to 100%")),
            },
            None => match amount.parse::<u64>() {
                Ok(n) if n >= 1 => Threshold::Count(n),
                _ => return Err(bad("N is a whole number of jobs, at least 1")),
            },
        };
        Ok(Some(HaltSpec {
            when,
            why,
            threshold,
        }))
    }

    /// Whether the condition needs the number of jobs in all (read before starting).
    pub(crate) fn needs_total(&self) -> bool {
        matches!(self.threshold, Threshold::Fraction(_))
    }
}

/// Counts jobs as they end and decides when to halt and with which exit status.
#[derive(Debug)]
pub(crate) struct Halt {
    spec: Option<HaltSpec>,
    total: Option<u64>,
    started: u64,
    completed: u64,
    failed: u64,
    exit: Option<i32>,
}

impl Halt {
    pub(crate) fn new(spec: Option<HaltSpec>) -> Self {
        Halt {
            spec,
            total: None,
            started: 0,
            completed: 0,
            failed: 0,
            exit: None,
        }
    }

    /// The number of jobs in all, once known.
    pub(crate) fn set_total(&mut self, total: u64) {
        self.total = Some(total);
    }

    pub(crate) fn started(&mut self) {
        self.started += 1;
    }

    /// Failed jobs so far.
    pub(crate) fn failed(&self) -> u64 {
        self.failed
    }

    /// Counts a job that ended (not one cancelled by a halt or an interrupt). `status` is its
    /// exit status as a shell shows it (128 + signal). Returns when to halt, if now is the time.
    pub(crate) fn ended(&mut self, success: bool, status: i32) -> Option<When> {
        self.completed += 1;
        if !success {
            self.failed += 1;
        }
        let spec = self.spec?;
        let reached = match spec.why {
            Why::Fail if !success => self.failed,
            Why::Success if success => self.completed - self.failed,
            Why::Done => self.completed,
            _ => return None,
        };
        let needed = match spec.threshold {
            Threshold::Count(n) => n as f64,
            Threshold::Fraction(f) => self.total.unwrap_or(u64::MAX) as f64 * f,
        };
        if (reached as f64) < needed {
            return None;
        }
        match spec.why {
            Why::Success => self.exit = Some(0),
            Why::Fail | Why::Done if self.exit.is_none() => {
                self.exit = Some(match spec.threshold {
                    Threshold::Count(1) => status,
                    Threshold::Count(_) => self.failed.min(101) as i32,
                    Threshold::Fraction(_) => {
                        percent(self.failed, self.total.unwrap_or(self.started))
                    }
                });
            }
            _ => {}
        }
        Some(spec.when)
    }

    /// The exit status of the whole run.
    pub(crate) fn exit_status(&self) -> i32 {
        if let Some(status) = self.exit {
            return status;
        }
        match self.spec.map(|s| s.threshold) {
            Some(Threshold::Fraction(_)) => percent(self.failed, self.started),
            _ => self.failed.min(101) as i32,
        }
    }
}

/// `ceil(part / whole * 100)`, 0 for nothing.
fn percent(part: u64, whole: u64) -> i32 {
    if whole == 0 {
        return 0;
    }
    (part * 100).div_ceil(whole).min(100) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(spec: &str, jobs: &[i32], total: u64) -> (Option<usize>, i32) {
        let mut halt = Halt::new(HaltSpec::parse(spec).unwrap());
        halt.set_total(total);
        for (i, &status) in jobs.iter().enumerate() {
            halt.started();
            if halt.ended(status == 0, status).is_some() {
                return (Some(i), halt.exit_status());
            }
        }
        (None, halt.exit_status())
    }

    #[test]
    fn exit_status_counts_failures_up_to_101() {
        assert_eq!(run("never", &[0, 1, 2, 3], 4), (None, 3));
        assert_eq!(run("never", &[1; 150], 150), (None, 101));
    }

    #[test]
    fn fail_1_exits_with_the_failed_jobs_status() {
        assert_eq!(run("now,fail=1", &[0, 3, 0, 0], 4), (Some(1), 3));
        assert_eq!(run("2", &[0, 137], 2), (Some(1), 137));
    }

    #[test]
    fn fail_n_exits_with_the_count() {
        assert_eq!(run("soon,fail=2", &[0, 3, 4, 5, 0], 5), (Some(2), 2));
    }

    #[test]
    fn success_and_done() {
        assert_eq!(run("now,success=1", &[1, 1, 0, 5, 0], 5), (Some(2), 0));
        assert_eq!(run("soon,done=2", &[1, 0, 0], 3), (Some(1), 1));
        assert_eq!(run("-1", &[1, 1, 1], 3), (None, 3));
    }

    #[test]
    fn percentages_of_all_jobs() {
        assert_eq!(
            run("now,fail=50%", &[1, 0, 0, 0, 1, 0, 1, 1], 8),
            (Some(7), 50)
        );
        assert_eq!(
            run("soon,fail=30%", &[1, 1, 1, 0, 0, 0, 0, 0, 0, 0], 10),
            (Some(2), 30)
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for bad in [
            "later,fail=1",
            "now,crash=1",
            "now,fail=0",
            "now,fail=x",
            "now",
            "now,fail=101%",
        ] {
            let err = HaltSpec::parse(bad).unwrap_err();
            assert!(err.contains("--halt"), "{err}");
        }
        assert_eq!(HaltSpec::parse("0").unwrap(), None);
        assert!(HaltSpec::parse("5%").unwrap().unwrap().needs_total());
    }
}
