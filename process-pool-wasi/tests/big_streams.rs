//! 1 GiB (or `PROCESS_POOL_BIG_STREAM` bytes) through the `cat` guest, as a WASIp1 module:
//! from a reader to a writer, to a file, and spilled past a 1 MiB cap; every byte checked, the
//! test process's peak RSS under 64 MiB. Alone in its binary, since the peak counts the whole
//! process.

mod common;

use process_pool_core::Job;
use process_pool_core::backend::conformance::streams::{
    big_stream_len, big_streams_in_bounded_memory,
};
use process_pool_wasi::WasiSpawner;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_through_the_cat_guest_in_bounded_memory() {
    let cat = common::guest("cat");
    let spawner = WasiSpawner::builder().max_instances(2).build().unwrap();
    big_streams_in_bounded_memory(spawner, || Job::new(&cat), big_stream_len()).await;
}
