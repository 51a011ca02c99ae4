//! A read-only Hrana v3 endpoint (`POST /v3/pipeline`) on the replica file, so wasm
//! edges read libSQL over libSQL's own wire protocol. Only `execute` of reading
//! statements is served; the connections are opened read-only as well, so nothing a
//! client sends can change the replica. Streams are not kept: every pipeline runs on its
//! own and answers `baton: null`.

use aethex_edge::hrana::{Col, HranaValue};
use aethex_edge::hrana::{HranaError, HranaStmt, PipelineRequest, PipelineResponse, StmtResult, StreamRequest, StreamResponse, StreamResult};
use aethex_edge::{Stmt, Value};
use libsql::Connection;

use crate::replica::query_rows;

/// Most requests in one pipeline.
pub const MAX_REQUESTS: usize = 64;
/// Longest statement text.
pub const MAX_SQL_BYTES: usize = 16 * 1024;
/// Most rows one statement may return.
pub const MAX_ROWS: usize = 10_000;
/// Largest pipeline body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

fn error(message: impl Into<String>, code: &str) -> StreamResult {
    StreamResult::Error { error: HranaError { message: message.into(), code: Some(code.to_string()) } }
}

/// Whether a statement only reads (`SELECT`, `WITH ... SELECT`, `EXPLAIN`, `VALUES`).
pub fn is_read_only(sql: &str) -> bool {
    let mut s = sql.trim_start();
    // Skip leading comments.
    loop {
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.split_once('\n').map(|(_, r)| r).unwrap_or("").trim_start();
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.split_once("*/").map(|(_, r)| r).unwrap_or("").trim_start();
        } else {
            break;
        }
    }
    let word: String = s.chars().take_while(|c| c.is_ascii_alphabetic()).collect::<String>().to_ascii_uppercase();
    matches!(word.as_str(), "SELECT" | "WITH" | "EXPLAIN" | "VALUES")
}

async fn execute(conn: &Connection, stmt: HranaStmt) -> StreamResult {
    let Some(sql) = stmt.sql else { return error("stored SQL (sql_id) is not supported; send sql", "SQL_NOT_SUPPORTED") };
    if sql.len() > MAX_SQL_BYTES {
        return error(format!("statement longer than {MAX_SQL_BYTES} bytes"), "SQL_TOO_LONG");
    }
    if !is_read_only(&sql) {
        return error("this is a read-only replica: only SELECT statements are served", "SQLITE_READONLY");
    }
    if !stmt.named_args.is_empty() {
        return error("named arguments are not supported; use positional arguments", "ARGS_INVALID");
    }
    let mut args = Vec::with_capacity(stmt.args.len());
    for a in stmt.args {
        match Value::try_from(a) {
            Ok(v) => args.push(v),
            Err(e) => return error(format!("bad argument: {e}"), "ARGS_INVALID"),
        }
    }
    match query_rows(conn, &Stmt::new(sql, args), MAX_ROWS).await {
        Ok(rows) => StreamResult::Ok {
            response: StreamResponse::Execute {
                result: StmtResult {
                    cols: rows.columns.into_iter().map(|name| Col { name: Some(name), decltype: None }).collect(),
                    rows_read: rows.rows.len() as u64,
                    rows: rows.rows.iter().map(|r| r.iter().map(HranaValue::from).collect()).collect(),
                    affected_row_count: 0,
                    last_insert_rowid: None,
                    replication_index: None,
                    rows_written: 0,
                    query_duration_ms: 0.0,
                },
            },
        },
        Err(e) => error(e.to_string(), "SQLITE_ERROR"),
    }
}

/// Runs a pipeline. An `Err` is a protocol error for the whole request (HTTP 400).
pub async fn run_pipeline(conn: &Connection, req: PipelineRequest) -> Result<PipelineResponse, String> {
    if req.baton.is_some() {
        return Err("streams are not kept by this server: send baton null".into());
    }
    if req.requests.len() > MAX_REQUESTS {
        return Err(format!("at most {MAX_REQUESTS} requests per pipeline"));
    }
    let mut results = Vec::with_capacity(req.requests.len());
    for r in req.requests {
        results.push(match r {
            StreamRequest::Close => StreamResult::Ok { response: StreamResponse::Close },
            StreamRequest::Execute { stmt } => execute(conn, stmt).await,
            StreamRequest::Unsupported => error("request type not supported by this read-only server", "NOT_SUPPORTED"),
        });
    }
    Ok(PipelineResponse { baton: None, base_url: None, results })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_pass() {
        for ok in ["SELECT 1", "  select * from t", "-- c\nWITH x AS (SELECT 1) SELECT * FROM x", "/* a */ values (1)", "EXPLAIN SELECT 1"] {
            assert!(is_read_only(ok), "{ok}");
        }
        for bad in ["DELETE FROM t", "insert into t values (1)", "PRAGMA query_only=0", "ATTACH 'x' AS y", "/* SELECT */ DROP TABLE t", "", "--"] {
            assert!(!is_read_only(bad), "{bad}");
        }
    }
}
