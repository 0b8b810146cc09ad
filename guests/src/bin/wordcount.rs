//! `wordcount [FILE...]`: counts the words of each FILE (or of stdin if none) and prints, per
//! input, `== NAME`, then `words N`, `distinct N`, then the ten most frequent words as
//! `WORD N` (most frequent first, ties in byte order). A word is a run of ASCII letters,
//! digits or apostrophes, lowercased.
//!
//! The same source is built for `wasm32-wasip1` and natively, so that both backends do the
//! same work in the benchmark.

use std::collections::HashMap;
use std::io::Read;

fn count(text: &[u8]) -> (usize, Vec<(Vec<u8>, usize)>) {
    let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut total = 0;
    for word in text
        .split(|b| !(b.is_ascii_alphanumeric() || *b == b'\''))
        .filter(|w| !w.is_empty())
    {
        total += 1;
        let word = word.to_ascii_lowercase();
        *counts.entry(word).or_insert(0) += 1;
    }
    let mut sorted: Vec<(Vec<u8>, usize)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    (total, sorted)
}

fn print(name: &str, text: &[u8]) {
    let (total, sorted) = count(text);
    println!("== {name}");
    println!("words {total}");
    println!("distinct {}", sorted.len());
    for (word, n) in sorted.iter().take(10) {
        println!("{} {n}", String::from_utf8_lossy(word));
    }
}

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        let mut text = Vec::new();
        if let Err(error) = std::io::stdin().read_to_end(&mut text) {
            eprintln!("wordcount: stdin: {error}");
            std::process::exit(1);
        }
        print("-", &text);
        return;
    }
    for file in files {
        match std::fs::read(&file) {
            Ok(text) => print(&file, &text),
            Err(error) => {
                eprintln!("wordcount: {file}: {error}");
                std::process::exit(1);
            }
        }
    }
}
