//! The fuzz targets' invariants as property tests, so that every `cargo test` tries a few
//! hundred inputs of each: frames that mostly make sense, then cut, mutated and cut off.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::DEFAULT_MAX_FRAME;

fn kind() -> impl Strategy<Value = Kind> {
    (1u8..=8).prop_map(|k| Kind::from_u8(k).expect("a kind"))
}

fn frame() -> impl Strategy<Value = Frame> {
    (kind(), any::<u64>(), ".{0,12}", vec(any::<u8>(), 0..200)).prop_map(
        |(kind, id, name, payload)| Frame {
            kind,
            id,
            name,
            payload: payload.into(),
        },
    )
}

/// Frames as a pool sends them: calls of the test worker's methods (and one it does not
/// serve), cancels, pings, a shutdown now and then; ids from a few, so that they repeat.
fn pool_frame() -> impl Strategy<Value = Frame> {
    let method = prop_oneof![
        Just("echo".to_owned()),
        Just("add".to_owned()),
        Just("fail".to_owned()),
        "[a-z]{0,6}"
    ];
    let payload = prop_oneof![
        vec(any::<u8>(), 0..64),
        (any::<i64>(), any::<i64>()).prop_map(|(a, b)| format!("[{a},{b}]").into_bytes()),
        Just(b"[9223372036854775807,1]".to_vec()),
    ];
    let id = 0u64..6;
    prop_oneof![
        8 => (id.clone(), method, payload).prop_map(|(id, m, p)| Frame::call(id, m, p)),
        2 => id.clone().prop_map(|id| Frame::bare(Kind::Cancel, id)),
        2 => id.prop_map(|id| Frame::bare(Kind::Ping, id)),
        1 => Just(Frame::bare(Kind::Shutdown, 0)),
        1 => frame(),
    ]
}

/// Encoded frames, then maybe a byte changed and maybe bytes of garbage after them.
fn wire(frames: impl Strategy<Value = Vec<Frame>>) -> impl Strategy<Value = Vec<u8>> {
    (
        frames,
        proptest::option::of((any::<usize>(), any::<u8>())),
        vec(any::<u8>(), 0..24),
    )
        .prop_map(|(frames, change, tail)| {
            let mut wire = encode_all(&frames, usize::MAX);
            if let Some((at, byte)) = change
                && !wire.is_empty()
            {
                let at = at % wire.len();
                wire[at] = byte;
            }
            wire.extend(tail);
            wire
        })
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    vec(0usize..80, 0..24)
}

proptest! {
    #[test]
    fn frames_round_trip_in_any_pieces(frames in vec(frame(), 0..8), cuts in cuts()) {
        let wire = encode_all(&frames, DEFAULT_MAX_FRAME);
        let decoded = decode_in_pieces(&wire, &cuts, DEFAULT_MAX_FRAME);
        prop_assert_eq!(decoded.error, None);
        prop_assert_eq!(decoded.frames, frames);
    }

    #[test]
    fn any_bytes_decode_the_same_in_any_pieces(
        wire in wire(vec(frame(), 0..6)),
        cuts in cuts(),
        max_frame in prop_oneof![12usize..400, Just(DEFAULT_MAX_FRAME)],
    ) {
        frame_stream(&wire, &cuts, max_frame);
    }

    #[test]
    fn random_bytes_decode_the_same_in_any_pieces(
        wire in vec(any::<u8>(), 0..200),
        cuts in cuts(),
        max_frame in 0usize..300,
    ) {
        frame_stream(&wire, &cuts, max_frame);
    }

    #[test]
    fn the_worker_answers_each_call_once_whatever_it_is_sent(
        wire in wire(vec(pool_frame(), 0..12)),
        cuts in cuts(),
        concurrency in 1u32..4,
        max_frame in prop_oneof![40usize..300, Just(DEFAULT_MAX_FRAME)],
    ) {
        worker_session(&wire, &cuts, concurrency, max_frame);
    }

    #[test]
    fn a_hello_is_read_or_refused_by_name(payload in hello_payload()) {
        hello(&payload);
    }

    #[test]
    fn error_codes_are_written_as_read(name in prop_oneof![
        Just("overloaded".to_owned()),
        Just("unknown_method".to_owned()),
        ".{0,16}"
    ]) {
        error_code(&name);
    }
}

/// A hello's payload: JSON objects with the keys a hello has, of the right type or not, some
/// extra keys, or bytes that are not JSON at all.
fn hello_payload() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..4).prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("1.5".to_owned()),
        Just("null".to_owned()),
        "\"[a-z]{0,4}\"",
        vec("\"[a-z]{0,4}\"", 0..4).prop_map(|m| format!("[{}]", m.join(","))),
        Just("[1]".to_owned()),
    ];
    let key = prop_oneof![
        Just("protocol"),
        Just("methods"),
        Just("concurrency"),
        Just("max_frame"),
        Just("extra"),
    ];
    prop_oneof![
        4 => vec((key, value), 0..6).prop_map(|fields| {
            let fields: Vec<String> =
                fields.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
            format!("{{{}}}", fields.join(", ")).into_bytes()
        }),
        1 => vec(any::<u8>(), 0..40),
    ]
}
