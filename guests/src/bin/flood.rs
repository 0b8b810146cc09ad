//! `flood N`: writes N bytes (`x`) to stdout.

use std::io::Write;

fn main() {
    let mut left: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let block = [b'x'; 64 * 1024];
    let mut out = std::io::stdout().lock();
    while left > 0 {
        let n = left.min(block.len());
        out.write_all(&block[..n]).expect("write stdout");
        left -= n;
    }
}
