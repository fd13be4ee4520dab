//! Every statement this provider sends, paced and counted.
//!
//! A connection ([`Conn`]) and a transaction ([`Tx`]) answer the same calls as
//! `tokio_postgres`'s client and transaction (`query_one`, `batch_execute`, ...), as inherent
//! methods that call [`provisio::requests::before_request`] first: one round trip to the server,
//! one request in the step's tally and in the server's rate limit (none by default: PostgreSQL
//! documents no request limit, `max_connections` is what it limits). Opening a connection
//! (TCP, TLS and authentication) counts as one request too, as do `BEGIN` and `COMMIT`.

use crate::client::Conn;
use provisio::{ProviderInfo, async_trait};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row, ToStatement};

/// One statement's parameters.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A connection or a transaction whose statements are paced and counted.
#[async_trait]
pub(crate) trait Statements: Send + Sync {
    /// `query_one`, counted.
    async fn query_one_counted(&self, statement: &str, params: Params<'_>) -> Result<Row, Error>;
    /// `batch_execute`, counted.
    async fn batch_execute_counted(&self, sql: &str) -> Result<(), Error>;
}

impl Conn {
    /// `query_one`, counted.
    pub(crate) async fn query_one<T: ?Sized + ToStatement + Sync>(
        &self,
        statement: &T,
        params: Params<'_>,
    ) -> Result<Row, Error> {
        provisio::requests::before_request(&self.info).await;
        self.client.query_one(statement, params).await
    }

    /// `query_opt`, counted.
    pub(crate) async fn query_opt<T: ?Sized + ToStatement + Sync>(
        &self,
        statement: &T,
        params: Params<'_>,
    ) -> Result<Option<Row>, Error> {
        provisio::requests::before_request(&self.info).await;
        self.client.query_opt(statement, params).await
    }

    /// `query`, counted.
    pub(crate) async fn query<T: ?Sized + ToStatement + Sync>(
        &self,
        statement: &T,
        params: Params<'_>,
    ) -> Result<Vec<Row>, Error> {
        provisio::requests::before_request(&self.info).await;
        self.client.query(statement, params).await
    }

    /// `execute`, counted.
    pub(crate) async fn execute<T: ?Sized + ToStatement + Sync>(
        &self,
        statement: &T,
        params: Params<'_>,
    ) -> Result<u64, Error> {
        provisio::requests::before_request(&self.info).await;
        self.client.execute(statement, params).await
    }

    /// `batch_execute` (one simple-query round trip, however many statements), counted.
    pub(crate) async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        provisio::requests::before_request(&self.info).await;
        self.client.batch_execute(sql).await
    }

    /// `BEGIN`, counted; the transaction's statements are counted too.
    pub(crate) async fn transaction(&mut self) -> Result<Tx<'_>, Error> {
        provisio::requests::before_request(&self.info).await;
        let info = self.info.clone();
        let tx = self.client.transaction().await?;
        Ok(Tx { tx, info })
    }
}

#[async_trait]
impl Statements for Conn {
    async fn query_one_counted(&self, statement: &str, params: Params<'_>) -> Result<Row, Error> {
        self.query_one(statement, params).await
    }
    async fn batch_execute_counted(&self, sql: &str) -> Result<(), Error> {
        self.batch_execute(sql).await
    }
}

/// A transaction whose statements are paced and counted.
pub(crate) struct Tx<'a> {
    tx: tokio_postgres::Transaction<'a>,
    info: ProviderInfo,
}

impl Tx<'_> {
    /// `query_one`, counted.
    pub(crate) async fn query_one<T: ?Sized + ToStatement + Sync>(
        &self,
        statement: &T,
        params: Params<'_>,
    ) -> Result<Row, Error> {
        provisio::requests::before_request(&self.info).await;
        self.tx.query_one(statement, params).await
    }

    /// `query_opt`, counted.
    pub(crate) async fn query_opt<T: ?Sized + ToStatement + Sync>(
        &self,
        statement: &T,
        params: Params<'_>,
    ) -> Result<Option<Row>, Error> {
        provisio::requests::before_request(&self.info).await;
        self.tx.query_opt(statement, params).await
    }

    /// `execute`, counted.
    pub(crate) async fn execute<T: ?Sized + ToStatement + Sync>(
        &self,
        statement: &T,
        params: Params<'_>,
    ) -> Result<u64, Error> {
        provisio::requests::before_request(&self.info).await;
        self.tx.execute(statement, params).await
    }

    /// `batch_execute`, counted.
    pub(crate) async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        provisio::requests::before_request(&self.info).await;
        self.tx.batch_execute(sql).await
    }

    /// `COMMIT`, counted.
    pub(crate) async fn commit(self) -> Result<(), Error> {
        provisio::requests::before_request(&self.info).await;
        self.tx.commit().await
    }
}

#[async_trait]
impl Statements for Tx<'_> {
    async fn query_one_counted(&self, statement: &str, params: Params<'_>) -> Result<Row, Error> {
        self.query_one(statement, params).await
    }
    async fn batch_execute_counted(&self, sql: &str) -> Result<(), Error> {
        self.batch_execute(sql).await
    }
}
