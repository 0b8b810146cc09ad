//! A prepared guest instantiated in its store, then run to its end or until stopped: the one
//! path a job and a warm worker share.

use std::future::Future;
use std::io;
use std::path::Path;

use process_pool_core::backend::ExitStatus;
use wasmtime::{Store, Trap, TypedFunc, WasmBacktrace};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p2::bindings::Command;

use crate::compile::Prepared;
use crate::guest::Guest;

/// How a guest's run ended: `None` if it was stopped, else what its entry point (or its start
/// function) returned.
pub(crate) type Ran = Option<wasmtime::Result<i32>>;

/// Why a guest did not reach its entry point.
enum NotStarted {
    /// Its own code ended it while it was instantiated: a trap or an exit in its start
    /// function (a component's, or a core module's). That is how its run ended.
    Ran(wasmtime::Error),
    /// It could not be instantiated (a limit, a missing export): a spawn failure.
    Refused(io::Error),
}

/// An instantiated guest's entry point: a module's `_start` or a component's `wasi:cli/run`.
enum Entry {
    Module(TypedFunc<(), ()>),
    Component(Command),
}

impl Prepared {
    /// Whether it is a component (its store is sized for one).
    pub(crate) fn is_component(&self) -> bool {
        matches!(self, Prepared::Component(_))
    }

    /// Instantiates it in `store` (which runs its start function, if it has one), then runs
    /// its entry point, until it ends or `stop` completes: then the guest is dropped wherever
    /// it is (at its next epoch tick, or in the host call it waits in), in either phase.
    ///
    /// `Err` if it could not be instantiated, naming `path`; a trap or an exit in its start
    /// function is how its run ended, as in its entry point.
    pub(crate) async fn run(
        &self,
        store: &mut Store<Guest>,
        path: &Path,
        stop: impl Future<Output = ()>,
    ) -> io::Result<Ran> {
        tokio::pin!(stop);
        let instantiated = tokio::select! {
            biased;
            () = &mut stop => return Ok(None),
            instantiated = self.instantiate(store, path) => instantiated,
        };
        match instantiated {
            Ok(entry) => Ok(entry.run(store, stop).await),
            Err(NotStarted::Ran(error)) => Ok(Some(Err(error))),
            Err(NotStarted::Refused(error)) => Err(error),
        }
    }

    /// Instantiates it in `store`; `path` names it in errors.
    async fn instantiate(
        &self,
        store: &mut Store<Guest>,
        path: &Path,
    ) -> Result<Entry, NotStarted> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        let cannot = |error: wasmtime::Error| {
            // An error that went through wasm frames, a trap or an exit came from the guest's
            // own code: its start function ran and ended this way.
            if error.is::<Trap>() || error.is::<I32Exit>() || error.is::<WasmBacktrace>() {
                NotStarted::Ran(error)
            } else {
                NotStarted::Refused(invalid(format!(
                    "cannot instantiate `{}`: {error:#}",
                    path.display()
                )))
            }
        };
        match self {
            Prepared::Module(pre) => {
                let instance = pre.instantiate_async(&mut *store).await.map_err(cannot)?;
                // Checked when it was compiled; a module cannot lose an export since.
                let start = instance
                    .get_typed_func::<(), ()>(&mut *store, "_start")
                    .map_err(|e| {
                        NotStarted::Refused(invalid(format!(
                            "`{}` has no `_start` to run: {e}",
                            path.display()
                        )))
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
    /// dropped: a guest computing stops at its next epoch tick, one in a host call at once).
    /// How it ended, for [`status`].
    async fn run(self, store: &mut Store<Guest>, stop: impl Future<Output = ()>) -> Ran {
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
pub(crate) fn status(ran: Ran) -> ExitStatus {
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
