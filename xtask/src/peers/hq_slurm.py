"""HyperQueue on Slurm, timed: one task per line of a file, run as `PROGRAM... LINE`.

Usage: python hq_slurm.py WORKERS CORES LINES_FILE PROGRAM [ARGS...]

Run as a step of a Slurm allocation (`salloc -N3 srun -N1 -n1 python hq_slurm.py ...`). PyPI
`hyperqueue` carries HyperQueue's server and workers inside this Python process (it ships no
`hq` program to start on the nodes), so the WORKERS workers, of CORES cores each, run in the
allocation's step. They are started and warmed up (one task per core, untimed) before the timed
job, so that what is timed is HyperQueue's cost per task with warm workers, from the submit to
the last task's end. Prints that time in milliseconds. Standard output and error of the tasks
are discarded. Exits non-zero if a task failed.

The end is taken by a last task that depends on all the others and writes the time (`date`):
the client's `wait_for_jobs` looks at the job once a second, which would round every run up to
a whole second.
"""

import sys
import tempfile
import time

from hyperqueue import Job
from hyperqueue.cluster import LocalCluster, WorkerConfig


def run(client, program, lines, end_file):
    """Runs one task per line; returns whether all succeeded, and when the last one ended."""
    job = Job()
    tasks = [job.program(program + [line], stdout=None, stderr=None) for line in lines]
    job.program(["date", "+%s.%N"], stdout=end_file, stderr=None, deps=tasks)
    submitted = client.submit(job)
    ok = client.wait_for_jobs([submitted], raise_on_error=False)
    with open(end_file) as f:
        return ok, float(f.read())


def main() -> int:
    workers = int(sys.argv[1])
    cores = int(sys.argv[2])
    with open(sys.argv[3]) as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    program = sys.argv[4:]
    with tempfile.TemporaryDirectory() as server_dir:
        with LocalCluster(server_dir) as cluster:
            for _ in range(workers):
                cluster.start_worker(WorkerConfig(cores=cores))
            client = cluster.client()
            end_file = f"{server_dir}/end"
            warm = [str(i) for i in range(workers * cores)]
            if not run(client, ["true"], warm, end_file)[0]:
                print("the warm-up job failed", file=sys.stderr)
                return 1
            started = time.time()
            ok, ended = run(client, program, lines, end_file)
    if not ok:
        print("a task failed", file=sys.stderr)
        return 1
    print(f"{(ended - started) * 1e3:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
