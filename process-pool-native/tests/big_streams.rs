//! 1 GiB (or `PROCESS_POOL_BIG_STREAM` bytes) through a native `cat`: from a reader to a
//! writer, to a file, and spilled past a 1 MiB cap; every byte checked, the test process's
//! peak RSS under 64 MiB. Alone in its binary, since the peak counts the whole process.

// Unix only: it runs `cat`, and its memory bound is read from `/proc` (where the conformance kit
// measures memory); the stream conformance suite runs on Windows in `conformance.rs`.
#![cfg(unix)]

use process_pool_core::Job;
use process_pool_core::backend::conformance::streams::{
    big_stream_len, big_streams_in_bounded_memory,
};
use process_pool_native::NativeSpawner;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_through_cat_in_bounded_memory() {
    big_streams_in_bounded_memory(NativeSpawner::new(), || Job::new("cat"), big_stream_len()).await;
}
