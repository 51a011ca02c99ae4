//! Hrana v3 over HTTP: libSQL's own wire protocol (`POST /v3/pipeline`).
//!
//! [`HranaReplica`] is the client the wasm edges read their replica with; it speaks the
//! same protocol a Turso / `sqld` replica serves, so in a deployment with one, point
//! `replica_url` at it. The wire types are shared with the native edge, which serves a
//! read-only endpoint of this protocol on its libSQL replica file.

use base64::alphabet::STANDARD as STANDARD_ALPHABET;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::http::{Headers, Outbound, Upstream};
use crate::platform::Platform;
use crate::sql::{Replica, ReplicaError, Rows, Stmt, Value};

/// Blobs are written unpadded (as libSQL's server does) and read padded or not.
const BLOB_B64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD_ALPHABET,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Path of the pipeline endpoint.
pub const PIPELINE_PATH: &str = "/v3/pipeline";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineRequest {
    #[serde(default)]
    pub baton: Option<String>,
    pub requests: Vec<StreamRequest>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamRequest {
    Close,
    Execute {
        stmt: HranaStmt,
    },
    /// Any request type this implementation does not serve (`batch`, `sequence`,
    /// `describe`, `store_sql`, ...): answered with an error result.
    #[serde(other)]
    Unsupported,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HranaStmt {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_id: Option<i64>,
    #[serde(default)]
    pub args: Vec<HranaValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub named_args: Vec<NamedArg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub want_rows: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedArg {
    pub name: String,
    pub value: HranaValue,
}

/// A value on the wire: integers travel as decimal strings, blobs as base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HranaValue {
    Null,
    Integer { value: String },
    Float { value: f64 },
    Text { value: String },
    Blob { base64: String },
}

impl From<&Value> for HranaValue {
    fn from(v: &Value) -> Self {
        match v {
            Value::Null => HranaValue::Null,
            Value::Integer(i) => HranaValue::Integer { value: i.to_string() },
            Value::Real(f) => HranaValue::Float { value: *f },
            Value::Text(s) => HranaValue::Text { value: s.clone() },
            Value::Blob(b) => HranaValue::Blob { base64: BLOB_B64.encode(b) },
        }
    }
}

impl TryFrom<HranaValue> for Value {
    type Error = String;
    fn try_from(v: HranaValue) -> Result<Self, String> {
        Ok(match v {
            HranaValue::Null => Value::Null,
            HranaValue::Integer { value } => Value::Integer(value.parse().map_err(|_| format!("bad integer {value:?}"))?),
            HranaValue::Float { value } => Value::Real(value),
            HranaValue::Text { value } => Value::Text(value),
            HranaValue::Blob { base64 } => Value::Blob(BLOB_B64.decode(base64).map_err(|e| e.to_string())?),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineResponse {
    pub baton: Option<String>,
    pub base_url: Option<String>,
    pub results: Vec<StreamResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamResult {
    Ok { response: StreamResponse },
    Error { error: HranaError },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamResponse {
    Close,
    Execute { result: StmtResult },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StmtResult {
    pub cols: Vec<Col>,
    pub rows: Vec<Vec<HranaValue>>,
    pub affected_row_count: u64,
    pub last_insert_rowid: Option<String>,
    #[serde(default)]
    pub replication_index: Option<String>,
    #[serde(default)]
    pub rows_read: u64,
    #[serde(default)]
    pub rows_written: u64,
    #[serde(default)]
    pub query_duration_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Col {
    pub name: Option<String>,
    #[serde(default)]
    pub decltype: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HranaError {
    pub message: String,
    #[serde(default)]
    pub code: Option<String>,
}

/// The pipeline body for `stmts`: one `execute` each, then `close`.
pub fn pipeline_for(stmts: &[Stmt]) -> PipelineRequest {
    let mut requests: Vec<StreamRequest> = stmts
        .iter()
        .map(|s| StreamRequest::Execute {
            stmt: HranaStmt {
                sql: Some(s.sql.clone()),
                args: s.args.iter().map(HranaValue::from).collect(),
                want_rows: Some(true),
                ..Default::default()
            },
        })
        .collect();
    requests.push(StreamRequest::Close);
    PipelineRequest { baton: None, requests }
}

/// Reads the rows of each `execute` out of a pipeline response.
pub fn rows_of(resp: PipelineResponse, expected: usize) -> Result<Vec<Rows>, ReplicaError> {
    let mut out = Vec::with_capacity(expected);
    for r in resp.results {
        match r {
            StreamResult::Ok { response: StreamResponse::Execute { result } } => {
                let mut rows = Vec::with_capacity(result.rows.len());
                for row in result.rows {
                    rows.push(row.into_iter().map(Value::try_from).collect::<Result<Vec<_>, _>>().map_err(ReplicaError::Unavailable)?);
                }
                out.push(Rows { columns: result.cols.into_iter().map(|c| c.name.unwrap_or_default()).collect(), rows });
            }
            StreamResult::Ok { response: StreamResponse::Close } => {}
            StreamResult::Error { error } => return Err(ReplicaError::Sql(error.message)),
        }
    }
    if out.len() != expected {
        return Err(ReplicaError::Unavailable(format!("expected {expected} results, got {}", out.len())));
    }
    Ok(out)
}

/// Reads a libSQL database over Hrana v3 HTTP through the platform's outbound HTTP.
pub struct HranaReplica<'a, P> {
    platform: &'a P,
    /// Base URL of the database (`https://db.example.turso.io`, `http://edge:8081`).
    url: &'a str,
    /// Bearer token (a Turso token, or the native edge's key).
    token: &'a str,
}

impl<'a, P: Platform> HranaReplica<'a, P> {
    pub fn new(platform: &'a P, url: &'a str, token: &'a str) -> Self {
        Self { platform, url, token }
    }
}

impl<P: Platform> Replica for HranaReplica<'_, P> {
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<Vec<Rows>, ReplicaError> {
        let body = serde_json::to_vec(&pipeline_for(&stmts)).map_err(|e| ReplicaError::Unavailable(e.to_string()))?;
        let mut headers = Headers::new();
        headers.set("content-type", "application/json");
        if !self.token.is_empty() {
            headers.set("authorization", format!("Bearer {}", self.token));
        }
        let req = Outbound {
            method: "POST".into(),
            url: format!("{}{PIPELINE_PATH}", self.url.trim_end_matches('/')),
            headers,
            body,
            upstream: Upstream::Replica,
        };
        let resp = self.platform.fetch(req).await.map_err(|e| ReplicaError::Unavailable(e.to_string()))?;
        if resp.status != 200 {
            let text = String::from_utf8_lossy(&resp.body);
            return Err(ReplicaError::Unavailable(format!("HTTP {}: {}", resp.status, text.chars().take(200).collect::<String>())));
        }
        let parsed: PipelineResponse =
            serde_json::from_slice(&resp.body).map_err(|e| ReplicaError::Unavailable(format!("bad pipeline response: {e}")))?;
        rows_of(parsed, stmts.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes_match_hrana_v3() {
        let p = pipeline_for(&[Stmt::new("SELECT ?1", vec![Value::Integer(7), Value::Blob(vec![1, 2])])]);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"baton": null, "requests": [
                {"type": "execute", "stmt": {"sql": "SELECT ?1", "args": [{"type": "integer", "value": "7"}, {"type": "blob", "base64": "AQI"}], "want_rows": true}},
                {"type": "close"}
            ]})
        );
        let unknown: PipelineRequest =
            serde_json::from_value(serde_json::json!({"requests": [{"type": "store_sql", "sql_id": 1, "sql": "x"}]})).unwrap();
        assert!(matches!(unknown.requests[0], StreamRequest::Unsupported));
    }

    #[test]
    fn results_are_read_back() {
        let resp: PipelineResponse = serde_json::from_value(serde_json::json!({
            "baton": null, "base_url": null,
            "results": [
                {"type": "ok", "response": {"type": "execute", "result": {"cols": [{"name": "a", "decltype": null}], "rows": [[{"type": "integer", "value": "42"}], [{"type": "null"}]], "affected_row_count": 0, "last_insert_rowid": null}}},
                {"type": "ok", "response": {"type": "close"}}
            ]
        }))
        .unwrap();
        let rows = rows_of(resp, 1).unwrap();
        assert_eq!(rows[0].rows, vec![vec![Value::Integer(42)], vec![Value::Null]]);
        let err: PipelineResponse = serde_json::from_value(serde_json::json!({
            "baton": null, "base_url": null,
            "results": [{"type": "error", "error": {"message": "no such table", "code": "SQLITE_ERROR"}}]
        }))
        .unwrap();
        assert_eq!(rows_of(err, 1), Err(ReplicaError::Sql("no such table".into())));
    }
}
