"""HyperQueue as an `xargs -P 2 -n 1`: one task per stdin line, run as `PROGRAM... LINE`.

Usage: python hq_run.py CORES PROGRAM [ARGS...] < lines

Starts a local cluster (a server and one worker with CORES cores) through PyPI `hyperqueue`,
which ships HyperQueue's Rust core, submits one job with a task per line, waits for it, and
stops the cluster. Standard output and error of the tasks are discarded. Exits non-zero if a
task failed.
"""

import sys
import tempfile

from hyperqueue import Job
from hyperqueue.cluster import LocalCluster, WorkerConfig


def main() -> int:
    cores = int(sys.argv[1])
    program = sys.argv[2:]
    lines = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    with tempfile.TemporaryDirectory() as server_dir:
        with LocalCluster(server_dir, WorkerConfig(cores=cores)) as cluster:
            client = cluster.client()
            job = Job()
            for line in lines:
                job.program(program + [line], stdout=None, stderr=None)
            submitted = client.submit(job)
            ok = client.wait_for_jobs([submitted], raise_on_error=False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
