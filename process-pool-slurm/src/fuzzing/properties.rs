//! The fuzz targets' invariants as property tests, so that every `cargo test` tries a few
//! hundred inputs of each: specs and replies that make sense, then cut and changed.

use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::spec::OutputSpec;
use process_pool_core::backend::{Exit, ExitStatus};

fn os() -> impl Strategy<Value = std::ffi::OsString> {
    use std::os::unix::ffi::OsStringExt;
    vec(any::<u8>(), 0..12).prop_map(std::ffi::OsString::from_vec)
}

fn output() -> impl Strategy<Value = OutputSpec> {
    prop_oneof![
        Just(OutputSpec::Memory),
        Just(OutputSpec::Discard),
        os().prop_map(OutputSpec::File),
    ]
}

fn spec_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        os(),
        vec(os(), 0..3),
        any::<bool>(),
        vec((os(), proptest::option::of(os())), 0..3),
        proptest::option::of(os()),
        proptest::option::of(vec(any::<u8>(), 0..32)),
        proptest::option::of(any::<u64>()),
        any::<u64>(),
        any::<u64>(),
        (
            proptest::option::of(os()),
            output(),
            output(),
            proptest::option::of(any::<u64>()),
        ),
    )
        .prop_map(
            |(
                program,
                args,
                env_clear,
                env,
                cwd,
                stdin,
                timeout,
                limit,
                grace,
                (stdin_file, stdout, stderr, max_memory),
            )| {
                JobSpec {
                    program,
                    args,
                    env_clear,
                    env,
                    cwd,
                    stdin: stdin.map(Bytes::from),
                    timeout: timeout.map(Duration::from_millis),
                    output_limit: limit,
                    kill_grace: Duration::from_millis(grace),
                    stdin_file,
                    stdout,
                    stderr,
                    max_memory,
                }
                .encode()
            },
        )
}

fn reply_bytes() -> impl Strategy<Value = Vec<u8>> {
    let status = prop_oneof![
        any::<i32>().prop_map(ExitStatus::Code),
        any::<i32>().prop_map(ExitStatus::Signal),
        any::<u32>().prop_map(ExitStatus::Exception),
        ".{0,8}".prop_map(ExitStatus::Trapped),
        any::<u64>().prop_map(|limit| ExitStatus::OutOfMemory { limit }),
    ];
    let exit = (
        status,
        vec(any::<u8>(), 0..32),
        any::<bool>(),
        vec(any::<u8>(), 0..32),
        any::<bool>(),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(status, out, cut_out, err, cut_err, cpu, peak)| {
            let usage = process_pool_core::Usage::new(cpu.map(Duration::from_micros), peak);
            Reply::Exit(
                Exit::new(status)
                    .with_stdout(Bytes::from(out), cut_out)
                    .with_stderr(Bytes::from(err), cut_err)
                    .with_usage(usage),
            )
        });
    let failed = (0u8..10, ".{0,8}").prop_map(|(kind, message)| {
        let kind = [
            io::ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied,
            io::ErrorKind::TimedOut,
        ][usize::from(kind % 3)];
        Reply::SpawnFailed(io::Error::new(kind, message))
    });
    prop_oneof![exit, failed].prop_map(|reply| reply.encode())
}

/// Valid bytes, maybe with one changed, maybe cut short, maybe with more after.
fn damaged(valid: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (
        valid,
        proptest::option::of((any::<usize>(), any::<u8>())),
        proptest::option::of(any::<usize>()),
        vec(any::<u8>(), 0..4),
    )
        .prop_map(|(mut bytes, change, cut, tail)| {
            if let Some((at, byte)) = change
                && !bytes.is_empty()
            {
                let at = at % bytes.len();
                bytes[at] = byte;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            bytes.extend(tail);
            bytes
        })
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    vec(0usize..40, 0..16)
}

proptest! {
    #[test]
    fn specs_read_back_as_written_or_are_refused(bytes in damaged(spec_bytes())) {
        spec(&bytes);
    }

    #[test]
    fn replies_read_back_as_written_or_are_refused(bytes in damaged(reply_bytes())) {
        reply(&bytes);
    }

    #[test]
    fn escaped_streams_read_the_same_in_any_pieces(
        wire in vec(prop_oneof![Just(0x1bu8), Just(b'N'), Just(b'E'), Just(b'\n'), any::<u8>()], 0..64),
        cuts in cuts(),
    ) {
        lines(&wire, &cuts);
    }

    #[test]
    fn bytes_cross_the_line_escaping_unchanged(
        data in vec(prop_oneof![Just(0x1bu8), Just(b'\n'), any::<u8>()], 0..200),
        writes in vec(0usize..50, 0..8),
        flushes in vec(any::<bool>(), 0..8),
        cuts in cuts(),
    ) {
        lines_round_trip(&data, &writes, &flushes, &cuts);
    }
}
