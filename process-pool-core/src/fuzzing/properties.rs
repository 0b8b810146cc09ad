//! The fuzz target's invariants as property tests, so that every `cargo test` tries a few
//! hundred workers that write whatever they like.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use process_pool_protocol::ErrorCode;

/// Frames a worker might write: replies and errors for the first few calls (right, late or
/// twice), pongs, a hello again, frames of a pool's kinds, bytes that are not frames.
fn worker_frame() -> impl Strategy<Value = Vec<u8>> {
    let id = 0u64..8;
    let code = prop_oneof![
        Just(ErrorCode::Failed),
        Just(ErrorCode::Overloaded),
        Just(ErrorCode::Cancelled),
        Just(ErrorCode::UnknownMethod),
        Just(ErrorCode::Other("teapot".into())),
    ];
    let frame = prop_oneof![
        6 => (id.clone(), prop_oneof![
            (0..9).prop_map(|i| format!("call {i}").into_bytes()),
            any::<i64>().prop_map(|n| n.to_string().into_bytes()),
            vec(any::<u8>(), 0..16),
        ]).prop_map(|(id, payload)| Frame::reply(id, payload)),
        3 => (id.clone(), code).prop_map(|(id, code)| Frame::error(id, code, "no")),
        2 => id.clone().prop_map(|id| Frame::bare(Kind::Pong, id)),
        1 => (1u8..=8, id).prop_map(|(kind, id)| {
            Frame::bare(Kind::from_u8(kind).expect("a kind"), id)
        }),
    ];
    prop_oneof![
        12 => frame.prop_map(|frame| {
            let mut wire = BytesMut::new();
            FrameCodec::default().encode(frame, &mut wire).expect("encodes");
            wire.to_vec()
        }),
        1 => vec(any::<u8>(), 0..20),
    ]
}

fn script() -> impl Strategy<Value = Script> {
    (
        any::<bool>(),
        0u8..6,
        any::<bool>(),
        any::<bool>(),
        0u8..9,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(own_hello, concurrency, silent_after, never_reads, calls, health_check, timeout)| {
                Script {
                    own_hello: own_hello && concurrency == 0,
                    concurrency,
                    silent_after,
                    never_reads: never_reads && calls % 4 == 0,
                    calls,
                    health_check,
                    timeout,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_pool_holds_whatever_its_worker_writes(
        frames in vec(worker_frame(), 0..12),
        cuts in vec(0usize..40, 0..12),
        script in script(),
    ) {
        pool_session(&frames.concat(), &cuts, script);
    }
}
