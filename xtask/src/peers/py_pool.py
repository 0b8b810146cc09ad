"""What a Python user writes to run small tasks on a pool of 2 processes: a
ProcessPoolExecutor and one submit per task. Prints the microseconds per task."""
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def echo(payload):
    return payload


def main():
    tasks = int(sys.argv[1])
    payload = b"hello, worker"
    with ProcessPoolExecutor(2) as pool:
        for future in [pool.submit(echo, payload) for _ in range(200)]:  # warm up
            future.result()
        started = time.perf_counter()
        futures = [pool.submit(echo, payload) for _ in range(tasks)]
        for future in futures:
            assert future.result() == payload
        took = time.perf_counter() - started
    print(took / tasks * 1e6)


if __name__ == "__main__":
    main()
