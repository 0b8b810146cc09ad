"""What a Python user writes to run a WASI module once per job in-process: compile once,
then a fresh store, WASI context and instance per job. Prints the microseconds per job."""
import sys, time
from wasmtime import Engine, Linker, Module, Store, WasiConfig, ExitTrap

path, jobs = sys.argv[1], int(sys.argv[2])
engine = Engine()
module = Module.from_file(engine, path)
linker = Linker(engine)
linker.define_wasi()

def one():
    store = Store(engine)
    wasi = WasiConfig()
    wasi.stdout_file = "/dev/null"
    store.set_wasi(wasi)
    instance = linker.instantiate(store, module)
    try:
        instance.exports(store)["_start"](store)
    except ExitTrap as exit:
        if exit.code != 0:
            raise

for _ in range(min(100, jobs)):
    one()
start = time.perf_counter()
for _ in range(jobs):
    one()
print((time.perf_counter() - start) / jobs * 1e6)
