//! Analytics: the seed's event format, batches from the SDK, consent, and the query API's
//! answers. Events go to a database of their own at origin (ingest never slows gameplay
//! writes); they are idempotent by `event_id`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::validate::Invalid;

/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 500;
/// Largest event (properties and device, serialized).
pub const MAX_EVENT_BYTES: usize = 8 * 1024;

/// What an event records. `event` is the seed's `track_event`; the others are the seed's
/// `track_metric`, `track_screen`, `set_user_property`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    #[default]
    Event,
    Metric,
    Screen,
    UserProperty,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Event => "event",
            EventKind::Metric => "metric",
            EventKind::Screen => "screen",
            EventKind::UserProperty => "user_property",
        }
    }
}

/// One event in the seed's format. `user_id` and `game_id` come from the token: when sent
/// they must match it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// A UUID chosen by the client: sending the same event twice stores it once.
    pub event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game_id: Option<String>,
    pub event_type: String,
    #[serde(default)]
    pub kind: EventKind,
    /// The client's clock (RFC 3339); origin stamps its own receive time too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub device: Map<String, Value>,
}

/// `POST /api/v1/analytics/events`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub events: Vec<Event>,
}

/// An event of a batch that was not stored, by its index in the batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RejectedEvent {
    pub index: usize,
    pub reason: String,
}

/// Answer of an ingest. Every event is in exactly one of the counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestResult {
    /// Stored now.
    pub accepted: u32,
    /// Stored before (same `event_id`).
    pub duplicates: u32,
    /// Dropped: the player has not opted in to analytics.
    pub dropped_no_consent: u32,
    pub rejected: Vec<RejectedEvent>,
}

/// `PUT /api/v1/analytics/consent` and its answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Consent {
    pub analytics: bool,
}

/// One bucket of `GET /api/v1/games/{game_id}/analytics/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CountBucket {
    /// Start of the bucket (RFC 3339, UTC).
    pub start: String,
    pub event_type: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventCounts {
    /// `hour` or `day`.
    pub bucket: String,
    pub buckets: Vec<CountBucket>,
}

/// `GET /api/v1/games/{game_id}/analytics/active-users?day=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActiveUsers {
    /// The day (YYYY-MM-DD, UTC).
    pub day: String,
    pub dau: u64,
    /// Distinct players over the 30 days ending with `day`.
    pub mau: u64,
}

/// An event type or metric name: 1 to 100 of `A-Z a-z 0-9 _ - . :`.
pub fn parse_event_type(raw: &str) -> Result<String, Invalid> {
    let ok = (1..=100).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(Invalid::new("event_type", "event_type must be 1 to 100 of letters, digits, '_', '-', '.', ':'"))
    }
}

/// Largest stack trace of a crash report (a whole report fits the 64 KiB request limit).
pub const MAX_STACK_TRACE_BYTES: usize = 32 * 1024;
/// Largest log tail of a crash report.
pub const MAX_LOGS_TAIL_BYTES: usize = 16 * 1024;
/// Frames of the stack trace a crash's group signature is made from.
pub const SIGNATURE_FRAMES: usize = 3;

/// `POST /api/v1/analytics/crashes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CrashReport {
    /// A UUID chosen by the client: the same report twice is stored once.
    pub report_id: String,
    pub game_version: String,
    /// One frame per line, innermost first.
    pub stack_trace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_tail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub device: Map<String, Value>,
}

/// Answer of a crash report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CrashAccepted {
    /// The group it belongs to.
    pub signature: String,
    /// False when this `report_id` was stored before.
    pub stored: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionCount {
    pub game_version: String,
    pub count: u64,
}

/// Crashes with the same top frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CrashGroup {
    pub signature: String,
    /// The top frame, as sent.
    pub title: String,
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub versions: Vec<VersionCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CrashGroups {
    pub groups: Vec<CrashGroup>,
}
