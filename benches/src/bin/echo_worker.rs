//! The worker of the worker-pool benchmark: `echo`, served `WORKER_CONCURRENCY` calls at a
//! time (default 1).

use process_pool::{Bytes, Worker};

fn main() -> std::io::Result<()> {
    let concurrency = std::env::var("WORKER_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    Worker::new()
        .method("echo", |input: Bytes| async move { Ok::<_, String>(input) })
        .concurrency(concurrency)
        .spin(std::time::Duration::from_micros(
            std::env::var("WORKER_SPIN_US")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ))
        .run()
}
