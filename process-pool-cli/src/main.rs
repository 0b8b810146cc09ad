//! `ppool`: run a command once per input, many at a time, with GNU parallel's habits on
//! process-pool's guarantees. The tool is the library of this package.

fn main() -> std::process::ExitCode {
    process_pool_cli::ppool()
}
