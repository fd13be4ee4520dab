//! The one tokio runtime every call shares, and [`Task`]: a Rust future that the calling Ruby
//! thread waits for with the GVL released.
//!
//! The waiting thread sleeps in `rb_thread_call_without_gvl2` on a channel. Everything that
//! needs Ruby (a run's events, the methods of a custom step) travels through that channel as a
//! message and runs on the waiting thread once it holds the GVL again: no Ruby code ever runs on
//! a tokio worker. Ruby's unblocking function (called for `Thread#raise`, `Timeout.timeout`,
//! `Thread#kill` and Ctrl-C) wakes the waiting thread; it then lets Ruby raise the pending
//! interrupt, cancels the run through its [`CancellationToken`] and keeps serving the channel
//! until the run has stopped cleanly (its journal is written), and raises the interrupt last.
//! A second interrupt while the run stops abandons it (the future is dropped).

use crate::errors;
use futures::FutureExt;
use futures::future::BoxFuture;
use magnus::value::ReprValue;
use magnus::{Error, Ruby, Value};
use provisio_engine::CancellationToken;
use std::ffi::c_void;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, OnceLock};

/// The shared runtime: multi-threaded, at least 4 workers.
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

/// Builds the Ruby value of a result, on the waiting thread (GVL held).
pub(crate) type Output = Box<dyn FnOnce(&Ruby) -> Result<Value, Error> + Send>;

/// Work that must run on the waiting Ruby thread with the GVL held (a custom step's method).
pub(crate) type RubyCall = Box<dyn FnOnce(&Ruby) + Send>;

/// A message to the waiting Ruby thread.
pub(crate) enum Msg {
    /// A run event (JSON; converted to a frozen Hash and yielded to the block).
    Event(serde_json::Value),
    /// Ruby work to do now.
    Call(RubyCall),
    /// The unblocking function ran: look at the thread's pending interrupts.
    Interrupt,
    /// The result.
    Done(provisio::Result<Output>),
}

/// Where a task's future sends events and Ruby work: the waiting thread's channel.
#[derive(Clone)]
pub(crate) struct Caller {
    tx: Sender<Msg>,
    /// Whether the caller gave a block for events.
    pub(crate) wants_events: bool,
}

impl Caller {
    /// Hands an event to the caller (dropped when it gave no block).
    pub(crate) fn event(&self, value: serde_json::Value) {
        if self.wants_events {
            let _ = self.tx.send(Msg::Event(value));
        }
    }

    /// Runs `f` on the caller's thread with the GVL and waits for its result (from a tokio
    /// thread: the caller's thread is serving its channel until the run ends).
    pub(crate) fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ruby) -> provisio::Result<T> + Send + 'static,
    ) -> provisio::Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let work: RubyCall = Box::new(move |ruby| {
            let out = std::panic::catch_unwind(AssertUnwindSafe(|| f(ruby)))
                .unwrap_or_else(|_| Err(provisio::Error::unexpected("the Ruby step panicked")));
            let _ = tx.send(out);
        });
        self.tx
            .send(Msg::Call(work))
            .map_err(|_| provisio::Error::cancelled("the Ruby caller is gone"))?;
        rx.recv()
            .map_err(|_| provisio::Error::cancelled("the Ruby caller is gone"))?
    }
}

impl Caller {
    /// Like [`Caller::call`], awaiting the answer instead of blocking the tokio thread.
    pub(crate) async fn call_async<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ruby) -> provisio::Result<T> + Send + 'static,
    ) -> provisio::Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let work: RubyCall = Box::new(move |ruby| {
            let out = std::panic::catch_unwind(AssertUnwindSafe(|| f(ruby)))
                .unwrap_or_else(|_| Err(provisio::Error::unexpected("the Ruby step panicked")));
            let _ = tx.send(out);
        });
        self.tx
            .send(Msg::Call(work))
            .map_err(|_| provisio::Error::cancelled("the Ruby caller is gone"))?;
        rx.await
            .map_err(|_| provisio::Error::cancelled("the Ruby caller is gone"))?
    }
}

type MakeFuture = Box<dyn FnOnce(Caller) -> BoxFuture<'static, provisio::Result<Output>> + Send>;

/// Work to run on the shared runtime.
pub(crate) struct Task {
    make: MakeFuture,
    /// Cancels the work cleanly (engine runs); without one, an interrupt drops the future.
    cancel: Option<CancellationToken>,
}

impl Task {
    /// A task whose result is any serializable value, returned as frozen Ruby data.
    pub(crate) fn json<F, T>(fut: F) -> Task
    where
        F: Future<Output = provisio::Result<T>> + Send + 'static,
        T: serde::Serialize + Send + 'static,
    {
        Task::custom(async move {
            let value = crate::convert::json(&fut.await?)?;
            Ok(crate::convert::json_output(value))
        })
    }

    /// A task that builds its Ruby result itself.
    pub(crate) fn custom<F>(fut: F) -> Task
    where
        F: Future<Output = provisio::Result<Output>> + Send + 'static,
    {
        Task {
            make: Box::new(move |_| Box::pin(fut)),
            cancel: None,
        }
    }

    /// A cancellable task that may send events and Ruby calls to its caller.
    pub(crate) fn run<M, F>(cancel: CancellationToken, make: M) -> Task
    where
        M: FnOnce(Caller) -> F + Send + 'static,
        F: Future<Output = provisio::Result<Output>> + Send + 'static,
    {
        Task {
            make: Box::new(move |caller| Box::pin(make(caller))),
            cancel: Some(cancel),
        }
    }

    /// Runs the task while this thread waits with the GVL released; events go to `on_event`
    /// (on this thread). See the module documentation for interrupts.
    pub(crate) fn wait_with(
        self,
        ruby: &Ruby,
        on_event: Option<magnus::block::Proc>,
    ) -> Result<Value, Error> {
        let (tx, rx) = channel::<Msg>();
        let caller = Caller {
            tx: tx.clone(),
            wants_events: on_event.is_some(),
        };
        let cancel = self.cancel.clone();
        let fut = (self.make)(caller);
        let done = tx.clone();
        let handle = runtime().spawn(async move {
            let result = AssertUnwindSafe(fut)
                .catch_unwind()
                .await
                .unwrap_or_else(|p| {
                    let what = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "panic".into());
                    Err(provisio::Error::unexpected(format!(
                        "provisio panicked: {what}"
                    )))
                });
            let _ = done.send(Msg::Done(result));
        });
        let mut pending: Option<Error> = None;
        let mut callback_failed = false;
        loop {
            let (msg, raised) = recv_without_gvl(&rx, &tx);
            // Whatever woke us, let Ruby raise a pending interrupt (Timeout, Thread#raise,
            // Ctrl-C) as an `Err` here.
            if let Err(e) = raised.and_then(|()| ruby.thread_check_ints()) {
                match (&cancel, pending.is_some()) {
                    (Some(c), false) => {
                        c.cancel();
                        pending = Some(e);
                    }
                    _ => {
                        handle.abort();
                        return Err(e);
                    }
                }
            }
            let Some(msg) = msg else { continue };
            match msg {
                Msg::Done(result) => {
                    if let Some(e) = pending {
                        return Err(e);
                    }
                    return match result {
                        Ok(out) => out(ruby),
                        Err(e) => Err(errors::to_ruby(ruby, &e)),
                    };
                }
                Msg::Event(value) => {
                    if callback_failed {
                        continue;
                    }
                    if let Some(block) = &on_event {
                        let delivered = crate::convert::to_ruby(ruby, &value)
                            .and_then(|ev| block.call::<_, Value>((ev,)));
                        if let Err(e) = delivered {
                            if let Some(c) = &cancel {
                                c.cancel();
                            }
                            callback_failed = true;
                            pending.get_or_insert(e);
                        }
                    }
                }
                Msg::Call(work) => work(ruby),
                Msg::Interrupt => {}
            }
        }
    }

    /// [`Task::wait_with`] without events.
    pub(crate) fn wait(self, ruby: &Ruby) -> Result<Value, Error> {
        self.wait_with(ruby, None)
    }
}

struct Wait<'a> {
    rx: &'a Receiver<Msg>,
    out: Option<Msg>,
}

unsafe extern "C" fn wait_fn(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Wait` of `recv_without_gvl`, alive for the whole call.
    let wait = unsafe { &mut *(data as *mut Wait<'_>) };
    wait.out = wait.rx.recv().ok();
    std::ptr::null_mut()
}

unsafe extern "C" fn unblock_fn(data: *mut c_void) {
    // SAFETY: `data` is the `Sender` of `recv_without_gvl`, alive for the whole call.
    let tx = unsafe { &*(data as *const Sender<Msg>) };
    let _ = tx.send(Msg::Interrupt);
}

/// Waits for the next message with the GVL released; `None` when Ruby did not run the wait
/// because an interrupt was already pending (the caller then checks interrupts). The second
/// value is an exception Ruby raised on the way out: on the main thread of a process with no
/// other thread, Ruby runs the wait beside a helper thread that it joins afterwards, and the
/// join raises a pending interrupt (Ctrl-C); `protect` turns that unwinding into an `Err`
/// instead of letting it jump over this function's frames (and leak the running task).
fn recv_without_gvl(rx: &Receiver<Msg>, tx: &Sender<Msg>) -> (Option<Msg>, Result<(), Error>) {
    // Something already queued: no need to give up the GVL.
    if let Ok(msg) = rx.try_recv() {
        return (Some(msg), Ok(()));
    }
    let mut wait = Wait { rx, out: None };
    let tx: Arc<Sender<Msg>> = Arc::new(tx.clone());
    // SAFETY: both pointers outlive the call; `wait_fn` touches no Ruby object, `unblock_fn`
    // only sends on a channel (both are allowed without the GVL). The `2` variant returns
    // without calling `wait_fn` when an interrupt is pending instead of raising it (a raise
    // would unwind through Rust frames).
    let wait_ptr = &mut wait as *mut Wait<'_> as *mut c_void;
    let raised = magnus::rb_sys::protect(|| {
        unsafe {
            rb_sys::rb_thread_call_without_gvl2(
                Some(wait_fn),
                wait_ptr,
                Some(unblock_fn),
                Arc::as_ptr(&tx) as *mut c_void,
            );
        }
        rb_sys::Qnil as rb_sys::VALUE
    })
    .map(|_| ());
    (wait.out.take(), raised)
}

/// Runs `fut` on the shared runtime and returns its value, waiting like [`Task::wait`].
pub(crate) fn block_on<T, F>(ruby: &Ruby, fut: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: Future<Output = provisio::Result<T>> + Send + 'static,
{
    let slot = Arc::new(std::sync::Mutex::new(None));
    let out = slot.clone();
    Task::custom(async move {
        let value = fut.await?;
        *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        Ok(Box::new(|ruby: &Ruby| Ok(ruby.qnil().as_value())) as Output)
    })
    .wait(ruby)?;
    let value = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    value.ok_or_else(|| {
        errors::to_ruby(
            ruby,
            &provisio::Error::unexpected("the task stopped without a result"),
        )
    })
}
