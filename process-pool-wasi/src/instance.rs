//! A prepared guest instantiated in its store, then run to its end or until stopped: the one
//! path a job and a warm worker share.

use std::future::Future;
use std::io;
use std::path::Path;

use process_pool_core::backend::ExitStatus;
use wasmtime::{Store, TypedFunc};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p2::bindings::Command;

use crate::cache::Prepared;
use crate::guest::Guest;

/// An instantiated guest's entry point: a module's `_start` or a component's `wasi:cli/run`.
pub(crate) enum Entry {
    Module(TypedFunc<(), ()>),
    Component(Command),
}

impl Prepared {
    /// Whether it is a component (its store is sized for one).
    pub(crate) fn is_component(&self) -> bool {
        matches!(self, Prepared::Component(_))
    }

    /// Instantiates it in `store`; `path` names it in errors.
    pub(crate) async fn instantiate(
        &self,
        store: &mut Store<Guest>,
        path: &Path,
    ) -> io::Result<Entry> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        let cannot =
            |e: wasmtime::Error| invalid(format!("cannot instantiate `{}`: {e:#}", path.display()));
        match self {
            Prepared::Module(pre) => {
                let instance = pre.instantiate_async(&mut *store).await.map_err(cannot)?;
                let start = instance
                    .get_typed_func::<(), ()>(&mut *store, "_start")
                    .map_err(|e| {
                        invalid(format!("`{}` has no `_start` to run: {e}", path.display()))
                    })?;
                Ok(Entry::Module(start))
            }
            Prepared::Component(pre) => Ok(Entry::Component(
                pre.instantiate_async(&mut *store).await.map_err(cannot)?,
            )),
        }
    }
}

impl Entry {
    /// Runs the guest until it returns, or until `stop` completes first (then its call is
    /// dropped, which stops it at its next epoch tick). How it ended, for [`status`].
    pub(crate) async fn run(
        self,
        store: &mut Store<Guest>,
        stop: impl Future<Output = ()>,
    ) -> Option<wasmtime::Result<i32>> {
        match self {
            Entry::Module(start) => tokio::select! {
                biased;
                () = stop => None,
                ran = start.call_async(store, ()) => Some(ran.map(|()| 0)),
            },
            Entry::Component(command) => tokio::select! {
                biased;
                () = stop => None,
                // `run` returns `Err(())` for a failure without a code: exit 1.
                ran = command.wasi_cli_run().call_run(store) => {
                    Some(ran.map(|result| i32::from(result.is_err())))
                }
            },
        }
    }
}

/// How a guest's run ended, before the pool says why it was stopped.
pub(crate) fn status(ran: Option<wasmtime::Result<i32>>) -> ExitStatus {
    match ran {
        // Stopped by the pool: dropping the call stopped the guest, and the pool reports why
        // (timed out or cancelled).
        None => ExitStatus::Signal(9),
        Some(Ok(code)) => ExitStatus::Code(code),
        Some(Err(error)) => match error.downcast_ref::<I32Exit>() {
            Some(exit) => ExitStatus::Code(exit.0),
            None => ExitStatus::Trapped(format!("{error:?}")),
        },
    }
}
