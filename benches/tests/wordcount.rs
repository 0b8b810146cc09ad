//! The word count of the benchmark is right: the native `wordcount` and the same program built
//! for `wasm32-wasip1` print the counts an independent in-process count gives, on every
//! document of the reference corpus.

#[path = "../../process-pool-wasi/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::Path;

use process_pool::{DirAccess, Job, NativeSpawner, ProcessPool, WasiSpawner};
use process_pool_benches::corpus::{self, Scale};
use process_pool_benches::target_dir;

/// What `wordcount` prints for `text` read from `name`, computed here another way.
fn expected(name: &str, text: &str) -> String {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut total = 0;
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '\'' {
            word.push(c.to_ascii_lowercase());
        } else if !word.is_empty() {
            total += 1;
            *counts.entry(std::mem::take(&mut word)).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&String, &usize)> = counts.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut out = format!("== {name}\nwords {total}\ndistinct {}\n", counts.len());
    for (word, n) in ranked.into_iter().take(10) {
        out.push_str(&format!("{word} {n}\n"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_and_wasi_word_counts_agree_with_an_in_process_count() {
    let docs = corpus::ensure(&target_dir().unwrap().join("corpus"), Scale::REFERENCE).unwrap();
    let dir = docs[0].parent().unwrap();

    let native = NativeSpawner::pool(2).unwrap();
    let program = common::native_wordcount();
    let jobs = docs.iter().map(|d| Job::new(&program).arg(d));
    let native_results = native.run_all(jobs).await.unwrap();

    let spawner = WasiSpawner::builder()
        .preopen(dir, "/corpus", DirAccess::ReadOnly)
        .build()
        .unwrap();
    let wasi = ProcessPool::new(spawner, 2).unwrap();
    let guest_path = |d: &Path| format!("/corpus/{}", d.file_name().unwrap().to_string_lossy());
    let jobs = docs
        .iter()
        .map(|d| Job::new(common::guest("wordcount")).arg(guest_path(d)));
    let wasi_results = wasi.run_all(jobs).await.unwrap();

    for ((doc, native), wasi) in docs.iter().zip(&native_results).zip(&wasi_results) {
        let text = std::fs::read_to_string(doc).unwrap();
        assert!(
            native.success(),
            "{}: {}",
            native.outcome,
            native.stderr_lossy()
        );
        assert!(wasi.success(), "{}: {}", wasi.outcome, wasi.stderr_lossy());
        assert_eq!(
            native.stdout_lossy(),
            expected(&doc.to_string_lossy(), &text)
        );
        assert_eq!(wasi.stdout_lossy(), expected(&guest_path(doc), &text));
        assert!(native.stdout_lossy().contains("words 5000\n"));
    }
}
