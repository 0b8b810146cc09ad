//! `answer`: an interactive guest. For each line it reads it writes one answer at once,
//! `<n>: <LINE IN UPPER CASE>`, counting from 1; `quit` ends it with exit code 0.

use std::io::{BufRead, Write};

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = line.expect("read a line");
        if line == "quit" {
            return;
        }
        writeln!(out, "{}: {}", n + 1, line.to_uppercase()).expect("write the answer");
        // Answered now, not when a buffer fills: the host waits for it.
        out.flush().expect("flush");
    }
}
