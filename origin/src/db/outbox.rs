//! The transactional outbox: changes of edge-visible rows, appended by write jobs in the
//! same transaction as the rows themselves.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::db::Connection;
use aethex_protocol::replica::{Change, Table};
use libsql::params;
use serde_json::{Map, Value};

use crate::db::{DbError, DbResult};

/// Handed to a replicated write job; remembers the newest position it appended.
#[derive(Clone, Default)]
pub struct Outbox {
    last: Arc<AtomicI64>,
}

impl Outbox {
    /// Appends "insert or replace this row".
    pub async fn upsert(&self, conn: &Connection, table: &Table, row: Map<String, Value>) -> DbResult<()> {
        self.append(conn, Change::upsert(table, row)).await
    }

    /// Appends "delete the rows whose given columns equal these values".
    pub async fn delete(&self, conn: &Connection, table: &Table, matching: Map<String, Value>) -> DbResult<()> {
        self.append(conn, Change::delete(table, matching)).await
    }

    async fn append(&self, conn: &Connection, change: Change) -> DbResult<()> {
        // A change edges would refuse must not enter the outbox (it would stop them).
        change.to_sql().map_err(|e| DbError::Corrupt(e.to_string()))?;
        let row = serde_json::to_string(&change.row).map_err(|e| DbError::Corrupt(e.to_string()))?;
        let op = match change.op {
            aethex_protocol::replica::Op::Upsert => "upsert",
            aethex_protocol::replica::Op::Delete => "delete",
        };
        let rows = conn
            .query(
                "INSERT INTO replication_outbox (tbl, op, row, created_at) VALUES (?1, ?2, ?3, ?4) RETURNING position",
                params![change.table, op, row, crate::clock::now()],
            )
            .await?;
        let position: i64 = crate::db::first_row(rows).await?.ok_or_else(|| DbError::Corrupt("outbox insert returned no position".into()))?.get(0)?;
        self.last.fetch_max(position, Ordering::Relaxed);
        Ok(())
    }

    /// Newest position appended (0 if none).
    pub fn last(&self) -> i64 {
        self.last.load(Ordering::Relaxed)
    }
}
