//! The word-count corpus: documents of words drawn from a Zipf-like distribution, generated
//! deterministically from a seed and cached under the target directory.
//!
//! The vocabulary is made of syllables (so that words look like words and vary in length), and
//! the `k`-th most common word has a probability proportional to `1 / k^1.07`, as in natural
//! text. The same seed and scale always give the same bytes.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// How much text to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// A short name, used in directory names and benchmark ids.
    pub name: &'static str,
    /// How many documents.
    pub docs: usize,
    /// Words per document.
    pub words: usize,
}

impl Scale {
    /// The reference pool's benchmark: 16 documents of 5,000 words.
    pub const REFERENCE: Scale = Scale {
        name: "reference",
        docs: 16,
        words: 5_000,
    };
    /// Large enough that counting, not spawning, dominates: 64 documents of 200,000 words.
    pub const LARGE: Scale = Scale {
        name: "large",
        docs: 64,
        words: 200_000,
    };
}

/// The seed of every corpus (change it, or the generator's version, to get other text).
pub const SEED: u64 = 0x5eed_0fc0_ffee;
/// The generator's version: bumped whenever its output would change.
const VERSION: u32 = 1;
/// Distinct words in the vocabulary.
const VOCABULARY: usize = 20_000;
/// The exponent of the Zipf distribution.
const EXPONENT: f64 = 1.07;
/// Words per line.
const LINE: usize = 12;

/// The documents of `scale` under `root` (for example `target/corpus`), generated on first use
/// and then reused: a marker written last says the set is complete.
pub fn ensure(root: &Path, scale: Scale) -> io::Result<Vec<PathBuf>> {
    let dir = root.join(format!("{}-v{VERSION}-{SEED:x}", scale.name));
    let paths: Vec<PathBuf> = (0..scale.docs)
        .map(|i| dir.join(format!("doc-{i:03}.txt")))
        .collect();
    let marker = dir.join("COMPLETE");
    if marker.is_file() {
        return Ok(paths);
    }
    fs::create_dir_all(&dir)?;
    let words = Words::new();
    for (i, path) in paths.iter().enumerate() {
        let mut rng = SplitMix64(SEED ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut out = BufWriter::new(fs::File::create(path)?);
        for n in 0..scale.words {
            out.write_all(words.sample(&mut rng).as_bytes())?;
            out.write_all(if (n + 1) % LINE == 0 { b"\n" } else { b" " })?;
        }
        out.flush()?;
    }
    fs::write(
        &marker,
        format!("{scale:?} seed {SEED:x} version {VERSION}\n"),
    )?;
    Ok(paths)
}

/// The vocabulary and its cumulative distribution.
struct Words {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Words {
    fn new() -> Self {
        const SYLLABLES: [&str; 24] = [
            "ka", "lo", "mi", "ne", "ta", "ri", "so", "ve", "du", "pa", "en", "al", "or", "is",
            "th", "qu", "be", "co", "fi", "gra", "sta", "pre", "ing", "ous",
        ];
        let words = (0..VOCABULARY)
            .map(|mut k| {
                // Rank 0 is one syllable; rarer words get longer, as in real text.
                let mut word = String::new();
                loop {
                    word.push_str(SYLLABLES[k % SYLLABLES.len()]);
                    k /= SYLLABLES.len();
                    if k == 0 {
                        break;
                    }
                }
                word
            })
            .collect();
        let mut total = 0.0;
        let cumulative = (1..=VOCABULARY)
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(EXPONENT);
                total
            })
            .collect();
        Words { words, cumulative }
    }

    fn sample(&self, rng: &mut SplitMix64) -> &str {
        let total = self.cumulative[VOCABULARY - 1];
        let x = rng.unit() * total;
        let rank = self.cumulative.partition_point(|&c| c < x);
        &self.words[rank.min(VOCABULARY - 1)]
    }
}

/// A small, fast, well-mixed generator (Steele, Lea and Flood's SplitMix64).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_text_and_it_is_cached() {
        let dir = tempfile::tempdir().unwrap();
        let scale = Scale {
            name: "tiny",
            docs: 3,
            words: 1_000,
        };
        let first = ensure(dir.path(), scale).unwrap();
        let text: Vec<String> = first
            .iter()
            .map(|p| fs::read_to_string(p).unwrap())
            .collect();
        assert_eq!(text.len(), 3);
        assert_ne!(text[0], text[1], "each document is its own");
        for doc in &text {
            assert_eq!(doc.split_whitespace().count(), 1_000);
        }
        // Regenerated from scratch: the same bytes.
        let again = tempfile::tempdir().unwrap();
        let second = ensure(again.path(), scale).unwrap();
        assert_eq!(fs::read_to_string(&second[2]).unwrap(), text[2]);
        // Cached: a second call does not write again.
        fs::write(&first[0], "changed").unwrap();
        ensure(dir.path(), scale).unwrap();
        assert_eq!(fs::read_to_string(&first[0]).unwrap(), "changed");
    }

    #[test]
    fn common_words_are_much_more_common() {
        let words = Words::new();
        let mut rng = SplitMix64(1);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..100_000 {
            *counts.entry(words.sample(&mut rng)).or_insert(0usize) += 1;
        }
        let top = counts[words.words[0].as_str()];
        let tenth = counts[words.words[9].as_str()];
        // Zipf: the first word about 10^1.07 ≈ 11.7 times the tenth.
        let ratio = top as f64 / tenth as f64;
        assert!((9.0..15.0).contains(&ratio), "{ratio}");
        assert!(counts.len() > 5_000, "a long tail: {}", counts.len());
    }
}
