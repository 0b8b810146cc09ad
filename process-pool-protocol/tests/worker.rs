//! The Rust worker, served over in-memory pipes and driven frame by frame as a pool would.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use process_pool_protocol::{Bytes, ErrorCode, Frame, FrameCodec, Hello, Kind, Worker};
use tokio::io::{DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite};

/// A pool's end of a worker served in this process.
struct Pool {
    to_worker: FramedWrite<WriteHalf<DuplexStream>, FrameCodec>,
    from_worker: FramedRead<ReadHalf<DuplexStream>, FrameCodec>,
    worker: JoinHandle<std::io::Result<()>>,
}

impl Pool {
    async fn start(worker: Worker) -> (Pool, Hello) {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let (their_read, their_write) = tokio::io::split(theirs);
        let worker = tokio::spawn(worker.serve_on(their_read, their_write));
        let (read, write) = tokio::io::split(ours);
        let mut pool = Pool {
            to_worker: FramedWrite::new(write, FrameCodec::default()),
            from_worker: FramedRead::new(read, FrameCodec::default()),
            worker,
        };
        let hello = pool.next().await;
        assert_eq!(hello.kind, Kind::Hello);
        (pool, Hello::parse(&hello.payload).unwrap())
    }

    async fn send(&mut self, frame: Frame) {
        self.to_worker.send(frame).await.unwrap();
    }

    async fn next(&mut self) -> Frame {
        tokio::time::timeout(Duration::from_secs(10), self.from_worker.next())
            .await
            .expect("a frame within 10 s")
            .expect("the worker is still there")
            .unwrap()
    }
}

fn upper() -> Worker {
    Worker::new()
        .method("echo", |input: Bytes| async move { Ok::<_, String>(input) })
        .blocking("upper", |input: Bytes, _call: &_| {
            Ok::<_, String>(input.to_ascii_uppercase())
        })
        .method("fail", |_| async { Err::<Bytes, _>("no luck") })
        .method("panic", |_| async {
            panic!("on purpose");
            #[allow(unreachable_code)]
            Ok::<Bytes, String>(Bytes::new())
        })
}

#[tokio::test]
async fn says_hello_then_answers_each_call_by_id() {
    let (mut pool, hello) = Pool::start(upper().concurrency(4)).await;
    assert_eq!(hello.methods, ["echo", "fail", "panic", "upper"]);
    assert_eq!(hello.concurrency, 4);
    pool.send(Frame::call(10, "upper", "abc")).await;
    pool.send(Frame::call(11, "echo", "xyz")).await;
    let mut replies = vec![pool.next().await, pool.next().await];
    replies.sort_by_key(|f| f.id);
    assert_eq!(replies, [Frame::reply(10, "ABC"), Frame::reply(11, "xyz")]);
}

#[tokio::test]
async fn errors_are_typed_and_the_worker_lives_on() {
    let (mut pool, _) = Pool::start(upper()).await;
    pool.send(Frame::call(1, "nope", "")).await;
    let error = pool.next().await;
    assert_eq!((error.kind, error.id), (Kind::Error, 1));
    assert_eq!(ErrorCode::parse(&error.name), ErrorCode::UnknownMethod);
    assert_eq!(error.payload, "unknown method `nope`");

    pool.send(Frame::call(2, "fail", "")).await;
    assert_eq!(
        pool.next().await,
        Frame::error(2, ErrorCode::Failed, "no luck")
    );

    pool.send(Frame::call(3, "panic", "")).await;
    let panicked = pool.next().await;
    assert_eq!(panicked.name, "panicked");
    assert!(String::from_utf8_lossy(&panicked.payload).contains("on purpose"));

    pool.send(Frame::call(4, "echo", "still here")).await;
    assert_eq!(pool.next().await, Frame::reply(4, "still here"));
}

#[tokio::test]
async fn runs_as_many_calls_at_once_as_it_announced_and_refuses_more() {
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let (r, m, n) = (
        Arc::clone(&running),
        Arc::clone(&most),
        Arc::clone(&release),
    );
    let worker = Worker::new()
        .method("hold", move |input: Bytes| {
            let (running, most, release) = (Arc::clone(&r), Arc::clone(&m), Arc::clone(&n));
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                release.notified().await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, String>(input)
            }
        })
        .concurrency(8);
    let (mut pool, _) = Pool::start(worker).await;
    for id in 0..9 {
        pool.send(Frame::call(id, "hold", id.to_string())).await;
    }
    // The ninth is one too many.
    let refused = pool.next().await;
    assert_eq!((refused.id, refused.name.as_str()), (8, "overloaded"));
    while running.load(Ordering::SeqCst) < 8 {
        tokio::task::yield_now().await;
    }
    assert_eq!(most.load(Ordering::SeqCst), 8);
    // Released one at a time, in whatever order the worker finishes them.
    let mut seen = Vec::new();
    for _ in 0..8 {
        release.notify_one();
        let reply = pool.next().await;
        assert_eq!(reply.payload, reply.id.to_string());
        seen.push(reply.id);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..8).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_cancel_stops_an_async_call_and_a_blocking_one_that_checks() {
    let worker = Worker::new()
        .method("forever", |_| {
            std::future::pending::<Result<Bytes, String>>()
        })
        .blocking("poll", |_, call: &_| {
            while !process_pool_protocol::CallContext::is_cancelled(call) {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err::<Bytes, _>("stopped")
        })
        .method("echo", |input: Bytes| async move { Ok::<_, String>(input) })
        .concurrency(3);
    let (mut pool, _) = Pool::start(worker).await;
    pool.send(Frame::call(1, "forever", "")).await;
    pool.send(Frame::call(2, "poll", "")).await;
    pool.send(Frame::bare(Kind::Cancel, 1)).await;
    assert_eq!(
        pool.next().await,
        Frame::error(1, ErrorCode::Cancelled, "cancelled")
    );
    pool.send(Frame::bare(Kind::Cancel, 2)).await;
    assert_eq!(
        pool.next().await,
        Frame::error(2, ErrorCode::Cancelled, "cancelled")
    );
    // A cancel for a call that is not in flight is ignored.
    pool.send(Frame::bare(Kind::Cancel, 99)).await;
    pool.send(Frame::call(3, "echo", "on")).await;
    assert_eq!(pool.next().await, Frame::reply(3, "on"));
}

#[tokio::test]
async fn answers_pings_and_drains_on_shutdown() {
    let release = Arc::new(Notify::new());
    let gate = Arc::clone(&release);
    let worker = Worker::new()
        .method("slow", move |input: Bytes| {
            let gate = Arc::clone(&gate);
            async move {
                gate.notified().await;
                Ok::<_, String>(input)
            }
        })
        .concurrency(2);
    let (mut pool, _) = Pool::start(worker).await;
    pool.send(Frame::bare(Kind::Ping, 42)).await;
    assert_eq!(pool.next().await, Frame::bare(Kind::Pong, 42));
    pool.send(Frame::call(5, "slow", "done")).await;
    pool.send(Frame::bare(Kind::Shutdown, 0)).await;
    release.notify_one();
    assert_eq!(pool.next().await, Frame::reply(5, "done"));
    assert!(
        pool.from_worker.next().await.is_none(),
        "closed after the drain"
    );
    pool.worker.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_reply_over_the_limit_is_an_error_and_a_malformed_frame_ends_the_worker() {
    let worker = Worker::new()
        .method("big", |_| async { Ok::<_, String>(vec![7u8; 4096]) })
        .max_frame(1024);
    let (mut pool, hello) = Pool::start(worker).await;
    assert_eq!(hello.max_frame, 1024);
    pool.send(Frame::call(1, "big", "")).await;
    let error = pool.next().await;
    assert_eq!(error.name, "too_large");
    assert!(String::from_utf8_lossy(&error.payload).contains("4108 bytes"));
    // A frame over the worker's limit: it stops with an error naming it.
    pool.send(Frame::call(2, "big", vec![0u8; 2000])).await;
    let error = pool.worker.await.unwrap().unwrap_err();
    assert!(
        error.to_string().contains("exceeds the limit of 1024"),
        "{error}"
    );
}

/// Found by the `worker` fuzz target: under a small frame limit, a worker died writing its
/// hello (a few dozen bytes of JSON) or an error whose message did not fit; it now sends its
/// hello whole (the pool's limit is the one that counts for it) and cuts error messages to
/// fit.
#[tokio::test]
async fn under_a_small_frame_limit_errors_are_cut_to_fit_and_the_worker_lives_on() {
    let worker = Worker::new()
        .method("big", |_| async { Ok::<_, String>(vec![7u8; 4096]) })
        .max_frame(40);
    let (mut pool, hello) = Pool::start(worker).await;
    assert_eq!(hello.max_frame, 40);
    pool.send(Frame::call(1, "a-method-it-does-not-serve", ""))
        .await;
    let error = pool.next().await;
    assert_eq!(
        (error.kind, error.id, error.name.as_str()),
        (Kind::Error, 1, "unknown_method")
    );
    assert_eq!(error.encoded_len(), 40);
    assert_eq!(error.payload, "unknown method");
    pool.send(Frame::call(2, "big", "")).await;
    let error = pool.next().await;
    assert_eq!(
        (error.name.as_str(), error.encoded_len()),
        ("too_large", 40)
    );
    pool.send(Frame::bare(Kind::Ping, 3)).await;
    assert_eq!(pool.next().await, Frame::bare(Kind::Pong, 3));
}

#[tokio::test]
async fn typed_methods_read_and_write_json() {
    #[derive(serde::Deserialize)]
    struct Add {
        a: i64,
        b: i64,
    }
    let worker = Worker::new().typed("add", |args: Add| async move {
        Ok::<_, String>(serde_json::json!({ "sum": args.a + args.b }))
    });
    let (mut pool, _) = Pool::start(worker).await;
    pool.send(Frame::call(1, "add", r#"{"a": 2, "b": 40}"#))
        .await;
    assert_eq!(pool.next().await, Frame::reply(1, r#"{"sum":42}"#));
    pool.send(Frame::call(2, "add", "[1]")).await;
    let error = pool.next().await;
    assert_eq!(error.name, "bad_request");
}

#[tokio::test]
async fn a_spinning_worker_still_runs_timers_and_other_tasks() {
    // Spinning for far longer than the test: it must give way on every turn, or this
    // single-threaded test (pool, worker and handler on one thread) would stall.
    let worker = Worker::new()
        .method("nap", |input: Bytes| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, String>(input)
        })
        .concurrency(2)
        .spin(Duration::from_secs(60));
    let (mut pool, _) = Pool::start(worker).await;
    for id in 1..=3 {
        pool.send(Frame::call(id, "nap", "zz")).await;
        assert_eq!(pool.next().await, Frame::reply(id, "zz"));
    }
    pool.send(Frame::bare(Kind::Ping, 9)).await;
    assert_eq!(pool.next().await, Frame::bare(Kind::Pong, 9));
    // End of input is seen at once, spinning or not.
    pool.to_worker.close().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), pool.worker)
        .await
        .expect("the worker ends")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_of_input_does_not_wait_for_a_blocking_call() {
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let worker = Worker::new().blocking("stubborn", move |_: Bytes, _call: &_| {
        // Ignores its cancel: blocks until the test lets it go.
        let _ = gate.lock().unwrap().recv();
        Ok::<_, String>("too late")
    });
    let (mut pool, _) = Pool::start(worker).await;
    pool.send(Frame::call(1, "stubborn", "")).await;
    pool.to_worker.close().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), pool.worker)
        .await
        .expect("the worker ends while its call still blocks")
        .unwrap()
        .unwrap();
    release.send(()).unwrap();
}
