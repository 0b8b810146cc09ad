//! `print OUT ERR`: writes OUT to stdout and ERR to stderr, as given (no newline added).

use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_default();
    let err = args.next().unwrap_or_default();
    std::io::stdout()
        .write_all(out.as_bytes())
        .expect("write stdout");
    std::io::stderr()
        .write_all(err.as_bytes())
        .expect("write stderr");
}
