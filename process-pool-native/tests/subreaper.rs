//! The subreaper mode reaps what it adopts: a job's processes that lose their parent become
//! the pool's children (it is a child subreaper), and none of them is left a zombie once the
//! jobs are answered, whether they were killed with the job or ended on their own. In a test
//! binary of its own: it counts this process's children. (A process that also runs jobs with a
//! cgroup each adopts their orphans too, which have no marker: see the README's known limits.)

// Linux only: the subreaper mode is Linux's.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{HANG, children_of_self, sh};
use process_pool_core::ProcessPool;
use process_pool_native::NativeSpawner;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_zombie_is_left_by_jobs_stopped_or_ended() {
    {
        let spawner = NativeSpawner::new().without_cgroups();
        let pool = ProcessPool::builder()
            .max_workers(4)
            .kill_grace(Duration::from_millis(100))
            .build(spawner)
            .unwrap();
        // Stopped: the shell and its `sleep` both die with the group, in either order.
        let stopped = (0..20).map(|_| sh("sleep 3; echo done").timeout(Duration::from_millis(100)));
        // Ended: the shell exits first, leaving a `sleep` that ends on its own.
        let ended = (0..20).map(|_| sh("sleep 0.05 & exit 0"));
        let results = tokio::time::timeout(HANG, pool.run_all(stopped.chain(ended)))
            .await
            .unwrap()
            .unwrap();
        assert!(results[..20].iter().all(|r| r.timed_out()));
        assert!(results[20..].iter().all(|r| r.success()));
    }
    let left = children_of_self();
    // What each one was, if any is left: its /proc/<pid>/stat.
    let stats: Vec<String> = left
        .iter()
        .map(|(pid, _)| std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
        .collect();
    assert_eq!(
        left,
        Vec::new(),
        "no child process, zombie or not, is left: {stats:?}"
    );
}
