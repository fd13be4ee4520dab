//! Retry policy: which failures are retried, how often, and how long to wait in between.
//!
//! The engine retries a step only when its error is [`provisio::Error::retryable`]
//! (`RateLimited`, `Transient`, `Timeout` from a provider). The policy and the loop are
//! provisio's [`Retry` layer](provisio::layer::Retry)'s, so a step of a run and a direct call
//! from a binding retry the same way; inside a step the engine owns the retries (the whole step
//! is retried, with a `step_retrying` event) and a `Retry` layer around the providers lets each
//! call through once. See [`provisio::layer::retry`] for the backoff (full jitter).

pub use provisio::layer::retry::RetryPolicy;
