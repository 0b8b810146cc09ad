//! `cat`: copies stdin to stdout as it comes. `cat FILE...`: copies each file to stdout; exits 1 naming
//! the first file it cannot read.

use std::io::{Read, Write};

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::stdout().lock();
    if files.is_empty() {
        // Streamed in 64 KiB pieces: any size of input in bounded memory.
        let mut input = std::io::stdin().lock();
        let mut buf = vec![0; 64 << 10];
        loop {
            let n = input.read(&mut buf).expect("read stdin");
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).expect("write stdout");
        }
        out.flush().expect("flush stdout");
        return;
    }
    for file in files {
        match std::fs::read(&file) {
            Ok(bytes) => out.write_all(&bytes).expect("write stdout"),
            Err(error) => {
                eprintln!("cat: {file}: {error}");
                std::process::exit(1);
            }
        }
    }
}
