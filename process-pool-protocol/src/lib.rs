//! The worker protocol of process-pool: length-prefixed [`Frame`]s on a worker's stdin and
//! stdout, a [`Hello`] handshake, many calls in flight per worker matched by id, and
//! [`Worker`], the Rust side that serves named methods.
//!
//! The protocol is specified in `PROTOCOL.md` at the repository's root, precisely enough to
//! write a worker in any language from it alone; `examples/python_worker.py` is one in
//! Python's standard library.
//!
//! ```no_run
//! use process_pool_protocol::Worker;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     Worker::new()
//!         .method("upper", |input| async move {
//!             Ok::<_, String>(input.to_ascii_uppercase())
//!         })
//!         .serve()
//!         .await
//! }
//! ```
#![deny(missing_docs)]

mod frame;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod hello;
mod worker;

pub use bytes::Bytes;
pub use frame::{
    DEFAULT_MAX_FRAME, Frame, FrameCodec, FrameError, HEADER_LEN, Kind, MAX_NAME_LEN, PREFIX_LEN,
};
pub use hello::{ErrorCode, Hello, MAX_HELLO, PROTOCOL_VERSION};
pub use worker::{CallContext, Worker};
