//! The read model: the edge core's queries (leaderboard pages, releases, regions, …) run
//! on origin's own database. On the local file, through a few connections that keep their
//! statements prepared (`aethex_edge_native::LibsqlReplica`). On a remote primary, each
//! batch gets a connection of its own: a long-lived Hrana stream is left unusable by a
//! request cancelled half way (a used baton, or a canceled flag that interrupts the next
//! statement), so none is kept between batches.

use aethex_edge::{Replica, ReplicaError, Rows, Stmt};
use aethex_edge_native::replica::query_rows;
use aethex_edge_native::LibsqlReplica;
use libsql::Database;

pub enum ReadModel {
    Local(LibsqlReplica),
    /// The remote database, and the origin's bound on remote reads in flight.
    Remote(Database, std::sync::Arc<tokio::sync::Semaphore>),
}

impl Replica for ReadModel {
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<Vec<Rows>, ReplicaError> {
        let (db, bound) = match self {
            ReadModel::Local(r) => return r.batch(stmts).await,
            ReadModel::Remote(db, bound) => (db, bound),
        };
        let _permit = bound.acquire().await.map_err(|e| ReplicaError::Sql(e.to_string()))?;
        let conn = db.connect().map_err(|e| ReplicaError::Sql(e.to_string()))?;
        // Several statements read one snapshot, as on the local file.
        let snapshot = stmts.len() > 1;
        if snapshot {
            conn.execute("BEGIN", ()).await.map_err(|e| ReplicaError::Sql(e.to_string()))?;
        }
        let mut out = Vec::with_capacity(stmts.len());
        for s in &stmts {
            // On an error the connection goes with it, and the server ends its transaction.
            out.push(query_rows(&conn, s, 100_000).await?);
        }
        if snapshot {
            conn.execute("COMMIT", ()).await.map_err(|e| ReplicaError::Sql(e.to_string()))?;
        }
        Ok(out)
    }
}
