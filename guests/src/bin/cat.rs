//! `cat`: copies stdin to stdout. `cat FILE...`: copies each file to stdout; exits 1 naming
//! the first file it cannot read.

use std::io::{Read, Write};

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::stdout().lock();
    if files.is_empty() {
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .expect("read stdin");
        out.write_all(&input).expect("write stdout");
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
