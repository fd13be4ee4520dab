//! Every statement this provider sends, paced and counted.
//!
//! A connection ([`Conn`]) answers the calls of `tokio_postgres`'s client this provider uses,
//! as inherent methods that call [`provisio::requests::before_request`] first: one message to
//! the server, one request in the step's tally and in the server's rate limit (none by
//! default: PostgreSQL documents no request limit, `max_connections` is what it limits).
//! Opening a connection (TCP, TLS and authentication) counts as one request too; a
//! connection reused from the pool counts nothing.
//!
//! Parameterised queries go out as `query_typed` (Parse, Bind, Execute and Sync in one
//! round trip, no separate prepare). Each method also keeps the connection's reuse flags: busy
//! while a request is unanswered (a future dropped mid-way leaves it busy, so the pool closes
//! it), broken after an error below SQL.

use crate::client::Conn;
use std::future::Future;
use std::sync::atomic::Ordering;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Error, Row, SimpleQueryMessage};

/// One statement's parameters, each with its type.
pub(crate) type Params<'a> = &'a [(&'a (dyn ToSql + Sync), Type)];

impl Conn {
    /// Runs one request's future, keeping the reuse flags.
    async fn sent<T>(&self, request: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        self.busy.store(true, Ordering::SeqCst);
        let answer = request.await;
        if let Err(e) = &answer
            && e.code().is_none()
        {
            self.broken.store(true, Ordering::SeqCst);
        }
        self.busy.store(false, Ordering::SeqCst);
        answer
    }

    /// `query_typed_one`, counted.
    pub(crate) async fn query_one(
        &self,
        statement: &str,
        params: Params<'_>,
    ) -> Result<Row, Error> {
        provisio::requests::before_request(&self.info).await;
        self.sent(self.client.query_typed_one(statement, params))
            .await
    }

    /// `query_typed_opt`, counted.
    pub(crate) async fn query_opt(
        &self,
        statement: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, Error> {
        provisio::requests::before_request(&self.info).await;
        self.sent(self.client.query_typed_opt(statement, params))
            .await
    }

    /// `query_typed`, counted.
    pub(crate) async fn query(
        &self,
        statement: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, Error> {
        provisio::requests::before_request(&self.info).await;
        self.sent(self.client.query_typed(statement, params)).await
    }

    /// `batch_execute` (one simple-query message, however many statements), counted.
    pub(crate) async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        provisio::requests::before_request(&self.info).await;
        self.sent(self.client.batch_execute(sql)).await
    }

    /// `simple_query` (one simple-query message, rows as text), counted.
    pub(crate) async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        provisio::requests::before_request(&self.info).await;
        self.sent(self.client.simple_query(sql)).await
    }

    /// Two simple-query messages sent back to back in one round trip (pipelined), each parsed
    /// on its own: the second runs after the first on the server, and is skipped by it
    /// (error "current transaction is aborted") when the first failed inside a transaction.
    /// Counted as two requests, both before either is sent, so pacing cannot reorder them.
    pub(crate) async fn batch_execute_pipelined(
        &self,
        first: &str,
        second: &str,
    ) -> (Result<(), Error>, Result<(), Error>) {
        provisio::requests::before_request(&self.info).await;
        provisio::requests::before_request(&self.info).await;
        self.busy.store(true, Ordering::SeqCst);
        // `join!` polls the first future first, and tokio-postgres sends a request's message on
        // its first poll: the server receives them in this order.
        let answers = tokio::join!(
            self.client.batch_execute(first),
            self.client.batch_execute(second)
        );
        for e in [&answers.0, &answers.1]
            .into_iter()
            .flat_map(|a| a.as_ref().err())
        {
            if e.code().is_none() {
                self.broken.store(true, Ordering::SeqCst);
            }
        }
        self.busy.store(false, Ordering::SeqCst);
        answers
    }
}
