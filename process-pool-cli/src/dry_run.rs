//! `--dry-run`: the command each input would run, one per line, and nothing run.

use std::io::Write;

use crate::input::{self, Item};
use crate::plan::Plan;
use crate::run::{BROKEN_PIPE, fail};

/// `--dry-run`: the commands, one per line, nothing run.
pub(crate) async fn dry_run(plan: Plan) -> i32 {
    let mut input = input::spawn(plan.input);
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut n = 0usize;
    while let Some(item) = input.recv().await {
        match item {
            Item::Record(record) if plan.skip.contains(&record.seq) => {}
            Item::Record(record) => {
                let slot = n % plan.workers + 1;
                n += 1;
                let line = plan.template.text(&record.args, record.seq, slot);
                if let Err(e) = writeln!(out, "{line}") {
                    return if e.kind() == std::io::ErrorKind::BrokenPipe {
                        BROKEN_PIPE
                    } else {
                        fail(&format!("cannot write the output: {e}"))
                    };
                }
            }
            Item::End(_) => break,
            Item::Failed(message) => return fail(&message),
        }
    }
    match out.flush() {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => BROKEN_PIPE,
        Err(e) => fail(&format!("cannot write the output: {e}")),
    }
}
