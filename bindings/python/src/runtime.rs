//! The one tokio runtime every call shares, and [`Task`]: a Rust future that Python either waits
//! for (the synchronous API: the GIL is released, Ctrl-C cancels) or awaits (the asyncio API:
//! task cancellation cancels).
//!
//! Events of a run and its result travel through one channel to the caller, so the caller sees
//! every event before the result. In the synchronous API the callback runs on the calling
//! thread; in the asyncio API on the event loop (`loop.call_soon_threadsafe`). Rust threads
//! never wait for the GIL while the engine is running a step.

use crate::{convert, errors};
use futures::future::BoxFuture;
use provisio_engine::CancellationToken;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use serde_json::Value;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The shared runtime: multi-threaded, at least 4 workers (a Python step that blocks one
/// must not starve the others).
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(4);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("provisio")
            .enable_all()
            .build()
            .expect("the provisio tokio runtime starts")
    })
}

/// Builds the Python value of a result, with the GIL held.
pub(crate) type Output = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// Receives the events of a run (as JSON, converted to Python on the caller's side).
pub(crate) type EventFn = Arc<dyn Fn(Value) + Send + Sync>;

/// What a task's future may use: where its events go, and the asyncio loop of the caller (for
/// custom steps written as coroutines).
#[derive(Clone, Default)]
pub(crate) struct Ctx {
    pub(crate) events: Option<EventFn>,
    pub(crate) event_loop: Option<Arc<Py<PyAny>>>,
}

type MakeFuture = Box<dyn FnOnce(Ctx) -> BoxFuture<'static, provisio::Result<Output>> + Send>;

/// Work to run on the shared runtime.
pub(crate) struct Task {
    make: MakeFuture,
    /// Cancels the work cleanly (engine runs); without one, cancelling drops the future.
    cancel: Option<CancellationToken>,
}

enum Msg {
    Event(Value),
    Done(provisio::Result<Output>),
}

impl Task {
    /// A task whose result is any serializable value, returned as plain Python data.
    pub(crate) fn json<F, T>(fut: F) -> Task
    where
        F: Future<Output = provisio::Result<T>> + Send + 'static,
        T: serde::Serialize + Send + 'static,
    {
        Task::custom(async move {
            let value = convert::json(&fut.await?)?;
            Ok(Box::new(move |py: Python<'_>| Ok(convert::to_py(py, &value)?.unbind())) as Output)
        })
    }

    /// A task that builds its Python result itself.
    pub(crate) fn custom<F>(fut: F) -> Task
    where
        F: Future<Output = provisio::Result<Output>> + Send + 'static,
    {
        Task {
            make: Box::new(move |_| Box::pin(fut)),
            cancel: None,
        }
    }

    /// A cancellable task that may emit events: `make` gets the context, `cancel` is the token
    /// its future watches.
    pub(crate) fn run<M, F>(cancel: CancellationToken, make: M) -> Task
    where
        M: FnOnce(Ctx) -> F + Send + 'static,
        F: Future<Output = provisio::Result<Output>> + Send + 'static,
    {
        Task {
            make: Box::new(move |ctx| Box::pin(make(ctx))),
            cancel: Some(cancel),
        }
    }

    /// Runs the task while the calling thread waits with the GIL released. Events are handed
    /// to `on_event` on this thread. KeyboardInterrupt (or an exception raised by `on_event`)
    /// cancels the run, waits for it to stop, and is then raised; a second KeyboardInterrupt
    /// stops waiting.
    pub(crate) fn wait_with(
        self,
        py: Python<'_>,
        on_event: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let (tx, rx) = std::sync::mpsc::channel::<Msg>();
        let rx = Mutex::new(rx);
        let events: Option<EventFn> = on_event.map(|_| {
            let tx = tx.clone();
            Arc::new(move |v| {
                let _ = tx.send(Msg::Event(v));
            }) as EventFn
        });
        let cancel = self.cancel.clone();
        let fut = (self.make)(Ctx {
            events,
            event_loop: None,
        });
        let handle = runtime().spawn(async move {
            let result = fut.await;
            let _ = tx.send(Msg::Done(result));
        });
        let mut pending_error: Option<PyErr> = None;
        let mut callback_failed = false;
        loop {
            match py.detach(|| {
                rx.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .recv_timeout(Duration::from_millis(50))
            }) {
                Ok(Msg::Done(result)) => {
                    if let Some(e) = pending_error {
                        return Err(e);
                    }
                    return match result {
                        Ok(out) => out(py),
                        Err(e) => Err(errors::to_py(py, &e)),
                    };
                }
                Ok(Msg::Event(value)) => {
                    // after Ctrl-C the events of the stopping run are still delivered; after the
                    // callback itself failed, no more
                    if callback_failed {
                        continue;
                    }
                    if let Some(cb) = on_event {
                        let delivered = convert::to_py(py, &value).and_then(|ev| cb.call1((ev,)));
                        if let Err(e) = delivered {
                            if let Some(c) = &cancel {
                                c.cancel();
                            }
                            callback_failed = true;
                            pending_error.get_or_insert(e);
                        }
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(e) = py.check_signals() {
                        match (&cancel, pending_error.is_some()) {
                            (Some(c), false) => {
                                c.cancel();
                                pending_error = Some(e);
                            }
                            _ => {
                                handle.abort();
                                return Err(e);
                            }
                        }
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(pending_error.unwrap_or_else(|| {
                        PyRuntimeError::new_err("provisio: the task stopped without a result")
                    }));
                }
            }
        }
    }

    /// [`Task::wait_with`] without events.
    pub(crate) fn wait(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.wait_with(py, None)
    }

    /// A coroutine running the task (see `provisio._support.run_async`).
    pub(crate) fn into_coroutine<'py>(
        self,
        py: Python<'py>,
        on_event: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cancel = self.cancel.clone();
        let handle = Py::new(
            py,
            AsyncTask {
                task: Mutex::new(Some(self)),
                cancel,
                abort: Mutex::new(None),
            },
        )?;
        let support = py.import("provisio._support")?;
        support.getattr("run_async")?.call1((handle, on_event))
    }
}

/// A task handed to asyncio (internal: `provisio._support.run_async` drives it).
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct AsyncTask {
    task: Mutex<Option<Task>>,
    cancel: Option<CancellationToken>,
    abort: Mutex<Option<tokio::task::AbortHandle>>,
}

#[pymethods]
impl AsyncTask {
    /// Starts the work; `resolve(ok, value)` and `deliver(event)` are called on `loop`.
    fn start(
        &self,
        event_loop: Py<PyAny>,
        resolve: Py<PyAny>,
        deliver: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let task = self
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("provisio: the task was already started"))?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
        let events: Option<EventFn> = deliver.as_ref().map(|_| {
            let tx = tx.clone();
            Arc::new(move |v| {
                let _ = tx.send(Msg::Event(v));
            }) as EventFn
        });
        let event_loop = Arc::new(event_loop);
        let fut = (task.make)(Ctx {
            events,
            event_loop: Some(event_loop.clone()),
        });
        let work = runtime().spawn(async move {
            let result = fut.await;
            let _ = tx.send(Msg::Done(result));
        });
        *self.abort.lock().unwrap_or_else(|e| e.into_inner()) = Some(work.abort_handle());
        // The forwarder hands events and then the result to the loop, in order.
        runtime().spawn(async move {
            let mut done = false;
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                let finished = Python::attach(|py| -> PyResult<bool> {
                    let call_soon = event_loop.bind(py).getattr("call_soon_threadsafe")?;
                    let mut finished = false;
                    for msg in batch {
                        match msg {
                            Msg::Event(value) => {
                                if let Some(d) = &deliver {
                                    call_soon.call1((d, convert::to_py(py, &value)?))?;
                                }
                            }
                            Msg::Done(result) => {
                                let (ok, value) = match result.map(|out| out(py)) {
                                    Ok(Ok(v)) => (true, v),
                                    Ok(Err(e)) => (false, e.into_value(py).into_any()),
                                    Err(e) => {
                                        (false, errors::to_py(py, &e).into_value(py).into_any())
                                    }
                                };
                                call_soon.call1((&resolve, ok, value))?;
                                finished = true;
                            }
                        }
                    }
                    Ok(finished)
                });
                match finished {
                    Ok(true) => {
                        done = true;
                        break;
                    }
                    Ok(false) => {}
                    // the loop is closed: nobody is waiting any more
                    Err(_) => return,
                }
            }
            if !done {
                // the work was aborted (cancelled without a token): resolve as cancelled
                Python::attach(|py| {
                    let err =
                        errors::to_py(py, &provisio::Error::cancelled("the call was cancelled"));
                    let _ = event_loop.bind(py).call_method1(
                        "call_soon_threadsafe",
                        (&resolve, false, err.into_value(py)),
                    );
                });
            }
        });
        Ok(())
    }

    /// Cancels the work: through the run's cancellation token when it has one (the run stops
    /// cleanly and still resolves), else by dropping it.
    fn cancel(&self) {
        match &self.cancel {
            Some(c) => c.cancel(),
            None => {
                if let Some(a) = self.abort.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    a.abort();
                }
            }
        }
    }
}

/// Runs `fut` on the shared runtime and returns its value, waiting like [`Task::wait`] (GIL
/// released, Ctrl-C stops waiting).
pub(crate) fn block_on<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = provisio::Result<T>> + Send + 'static,
{
    let slot = Arc::new(Mutex::new(None));
    let out = slot.clone();
    Task::custom(async move {
        let value = fut.await?;
        *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        Ok(Box::new(|py: Python<'_>| Ok(py.None())) as Output)
    })
    .wait(py)?;
    let value = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    value.ok_or_else(|| PyRuntimeError::new_err("provisio: the task stopped without a result"))
}

/// Builds a task from an operation body (the operation macros' bodies may use `?`).
pub(crate) fn build(body: impl FnOnce() -> PyResult<Task>) -> PyResult<Task> {
    body()
}
