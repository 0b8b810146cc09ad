//! The fuzz targets' invariants as property tests, so that every `cargo test` tries a few
//! hundred inputs of each.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

/// Bytes a command word or an input value might hold: text, replacement strings, shell
/// syntax, quotes, braces, now and then any byte.
fn word() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        "[a-z./]{1,6}",
        Just("{}".to_owned()),
        Just("{.}".to_owned()),
        Just("{//}".to_owned()),
        Just("{-1/.}".to_owned()),
        Just("{2}".to_owned()),
        Just("{#}".to_owned()),
        Just("{%}".to_owned()),
        Just("{=".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        "[ '\"$|;&*\\\\]",
    ];
    prop_oneof![
        8 => vec(piece, 0..4).prop_map(|pieces| pieces.concat().into_bytes()),
        1 => vec(any::<u8>(), 0..12),
    ]
}

proptest! {
    #[test]
    fn templates_parse_or_refuse_and_render_any_input(
        words in vec(word(), 0..4),
        shell in any::<bool>(),
        direct_only in any::<bool>(),
        args in vec(word(), 0..4),
        seq in any::<u64>(),
        slot in any::<usize>(),
    ) {
        template(&words, shell, direct_only, &args, seq, slot);
    }

    #[test]
    fn records_split_and_join_back(
        data in vec(prop_oneof![Just(b'\n'), Just(0u8), Just(b','), Just(b' '), any::<u8>()], 0..64),
        nul in any::<bool>(),
        colsep in proptest::option::of(prop_oneof![
            Just(",".to_owned()),
            Just("\\s+".to_owned()),
            Just("(".to_owned()),
            ".{0,4}",
        ]),
    ) {
        records(&data, if nul { 0 } else { b'\n' }, colsep.as_deref());
    }

    #[test]
    fn any_joblog_is_read_or_refused_by_name(
        lines in vec(prop_oneof![
            Just("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand".to_owned()),
            (any::<u64>(), -2i64..3, 0i64..3, ".{0,8}")
                .prop_map(|(s, e, g, c)| format!("{s}\t:\t1.000\t0.5\t0\t0\t{e}\t{g}\t{c}")),
            ".{0,20}",
        ], 0..5),
        raw in proptest::option::of(vec(any::<u8>(), 0..40)),
    ) {
        let contents = raw.unwrap_or_else(|| lines.join("\n").into_bytes());
        joblog(&contents);
    }

    #[test]
    fn jobs_logged_are_skipped_when_resumed(
        jobs in vec((0u64..20, -1i32..2, 0i32..2, "(.|\t|\n|\r){0,10}"), 0..6),
    ) {
        joblog_round_trip(&jobs);
    }

    #[test]
    fn pipe_blocks_are_the_input_cut_at_record_boundaries(
        data in vec(prop_oneof![Just(b'a'), Just(b'\n'), Just(b'>'), Just(b',')], 0..200),
        size in 1usize..40,
        records in proptest::option::of(1usize..5),
        recend in prop_oneof![Just(b"\n".to_vec()), Just(b",".to_vec()), Just(b"\n>".to_vec()), Just(Vec::new())],
        recstart in prop_oneof![Just(Vec::new()), Just(b">".to_vec())],
        extend in any::<bool>(),
    ) {
        blocks(&data, size, records, &recend, &recstart, extend);
    }
}
