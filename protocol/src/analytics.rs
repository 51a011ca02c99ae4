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

/// One bucket of `GET /api/v1/games/{game_id}/analytics/metrics?name=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricBucket {
    pub start: String,
    /// Samples in the bucket.
    pub count: u64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
}

/// The seed's `track_metric` samples (fps, frame time, memory, ...) of one name over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricSeries {
    pub name: String,
    pub bucket: String,
    pub buckets: Vec<MetricBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScreenViews {
    pub screen: String,
    pub views: u64,
    /// Distinct players who saw it.
    pub players: u64,
}

/// `GET /api/v1/games/{game_id}/analytics/screens`: most viewed first (at most 100).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScreenReport {
    pub screens: Vec<ScreenViews>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PropertyValue {
    pub value: Value,
    pub players: u64,
}

/// `GET /api/v1/games/{game_id}/analytics/user-properties?name=`: each player's latest
/// value of the property, counted (most common first, at most 100 values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PropertyReport {
    pub name: String,
    pub values: Vec<PropertyValue>,
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

/// A crash group's signature: the blake3 (first 16 hex digits) of its top
/// [`SIGNATURE_FRAMES`] frames, each normalized so the same code crashing groups together
/// across builds and machines: addresses (`0x…`), line and column numbers and whitespace
/// runs are dropped. `None` when the trace has no frames.
pub fn crash_signature(stack_trace: &str) -> Option<String> {
    let frames: Vec<String> = stack_trace.lines().map(normalize_frame).filter(|f| !f.is_empty()).take(SIGNATURE_FRAMES).collect();
    if frames.is_empty() {
        return None;
    }
    let hash = blake3::hash(frames.join("\n").as_bytes());
    Some(hash.to_hex()[..16].to_string())
}

fn normalize_frame(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(hex) = rest.strip_prefix("0x") {
            rest = hex.trim_start_matches(|c: char| c.is_ascii_hexdigit());
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        // `:123` and `:123:45` (line, column) go.
        if c == ':' && rest[1..].starts_with(|d: char| d.is_ascii_digit()) {
            rest = rest[1..].trim_start_matches(|d: char| d.is_ascii_digit());
            continue;
        }
        if c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out.trim().to_string()
}

impl CrashReport {
    /// Checks the report as origin stores it (all but `timestamp`, which needs a date
    /// parser: origin checks it) and gives its group's signature.
    pub fn check(&self) -> Result<String, Invalid> {
        if uuid::Uuid::parse_str(&self.report_id).is_err() {
            return Err(Invalid::new("report_id", "report_id must be a UUID"));
        }
        if self.game_version.is_empty() || self.game_version.len() > 64 || self.game_version.chars().any(char::is_control) {
            return Err(Invalid::new("game_version", "game_version must be 1 to 64 characters"));
        }
        if self.stack_trace.len() > MAX_STACK_TRACE_BYTES {
            return Err(Invalid::new("stack_trace", format!("stack_trace must be at most {MAX_STACK_TRACE_BYTES} bytes")));
        }
        if self.logs_tail.as_ref().is_some_and(|l| l.len() > MAX_LOGS_TAIL_BYTES) {
            return Err(Invalid::new("logs_tail", format!("logs_tail must be at most {MAX_LOGS_TAIL_BYTES} bytes")));
        }
        if self.message.as_ref().is_some_and(|m| m.len() > 1024) {
            return Err(Invalid::new("message", "message must be at most 1024 bytes"));
        }
        if !self.device.is_empty() && Value::Object(self.device.clone()).to_string().len() > MAX_EVENT_BYTES {
            return Err(Invalid::new("device", format!("device must be at most {MAX_EVENT_BYTES} bytes")));
        }
        crash_signature(&self.stack_trace).ok_or_else(|| Invalid::new("stack_trace", "stack_trace holds no frames"))
    }
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

/// One arm of an A/B test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// 1 to 32 of `a-z 0-9 _ -`.
    pub name: String,
    /// Share of players, relative to the other variants' weights (1 to 10 000).
    pub weight: u32,
}

/// How many variants an experiment has.
pub const MIN_VARIANTS: usize = 2;
pub const MAX_VARIANTS: usize = 10;

/// `PUT /api/v1/games/{game_id}/experiments/{experiment_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DefineExperimentRequest {
    /// 2 to 10 variants.
    pub variants: Vec<Variant>,
    /// The event type that counts as a conversion in the results.
    pub conversion_event: String,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Experiment {
    pub game_id: String,
    pub experiment_id: String,
    pub variants: Vec<Variant>,
    pub conversion_event: String,
    pub active: bool,
    pub updated_at: String,
}

/// A player's variant of an experiment (`GET /api/v1/experiments/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assignment {
    pub experiment_id: String,
    pub variant: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assignments {
    pub assignments: Vec<Assignment>,
}

/// One variant's outcome: players exposed, those who then had the conversion event, the
/// rate and its 95 % Wilson score interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariantResult {
    pub variant: String,
    pub exposed: u64,
    pub converted: u64,
    pub rate: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExperimentResults {
    pub experiment_id: String,
    pub conversion_event: String,
    pub variants: Vec<VariantResult>,
}

/// The event type the SDK records when a player is exposed to a variant (properties:
/// `experiment_id`, `variant`).
pub const EXPOSURE_EVENT: &str = "experiment_exposure";

/// The variant a player gets: deterministic (a hash of the experiment and the player, so
/// any server, edge or client computes the same without a write), in proportion to the
/// weights.
pub fn assign_variant<'v>(experiment_id: &str, user_id: &str, variants: &'v [Variant]) -> Option<&'v Variant> {
    let total: u64 = variants.iter().map(|v| u64::from(v.weight)).sum();
    if total == 0 {
        return None;
    }
    // FNV-1a over "experiment\0user", then splitmix64's finalizer for an even spread.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in experiment_id.bytes().chain(std::iter::once(0)).chain(user_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    let mut point = ((u128::from(h) * u128::from(total)) >> 64) as u64;
    for v in variants {
        if point < u64::from(v.weight) {
            return Some(v);
        }
        point -= u64::from(v.weight);
    }
    variants.last()
}

/// The 95 % Wilson score interval of `k` successes in `n` trials.
pub fn wilson_interval(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    let (z, n, p) = (1.959_963_985, n as f64, k as f64 / n as f64);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n) + z * z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

impl DefineExperimentRequest {
    pub fn validate(&self) -> Result<(), Invalid> {
        if !(MIN_VARIANTS..=MAX_VARIANTS).contains(&self.variants.len()) {
            return Err(Invalid::new("variants", "an experiment has 2 to 10 variants"));
        }
        let mut names = std::collections::HashSet::new();
        for v in &self.variants {
            let ok = (1..=32).contains(&v.name.len()) && v.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b));
            if !ok || !names.insert(v.name.as_str()) {
                return Err(Invalid::new("variants", "variant names are 1 to 32 of a-z, 0-9, '_', '-', each once"));
            }
            if !(1..=10_000).contains(&v.weight) {
                return Err(Invalid::new("variants", "variant weights are 1 to 10000"));
            }
        }
        parse_event_type(&self.conversion_event).map_err(|_| Invalid::new("conversion_event", "conversion_event must be an event type"))?;
        Ok(())
    }
}

#[cfg(test)]
mod experiment_tests {
    use super::*;

    #[test]
    fn assignment_is_deterministic_and_follows_the_weights() {
        let vs = vec![Variant { name: "a".into(), weight: 1 }, Variant { name: "b".into(), weight: 3 }];
        assert_eq!(assign_variant("exp", "user-1", &vs), assign_variant("exp", "user-1", &vs));
        let b = (0..20_000).filter(|i| assign_variant("exp", &format!("user-{i}"), &vs).unwrap().name == "b").count();
        assert!((14_500..15_500).contains(&b), "about 3/4 get b: {b}");
        // Another experiment shuffles players independently.
        let same = (0..2000).filter(|i| {
            let u = format!("user-{i}");
            assign_variant("exp", &u, &vs) == assign_variant("other", &u, &vs)
        });
        assert!(same.count() < 1600);
        let (lo, hi) = wilson_interval(50, 100);
        assert!((lo - 0.4038).abs() < 0.001 && (hi - 0.5962).abs() < 0.001, "{lo} {hi}");
        assert_eq!(wilson_interval(0, 0), (0.0, 0.0));
    }
}

/// `GET /api/v1/games/{game_id}/analytics/retention`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Retention {
    /// The cohort: players first active on this day (YYYY-MM-DD, UTC).
    pub cohort: String,
    pub cohort_size: u64,
    pub days: Vec<RetentionDay>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionDay {
    /// N of day-N retention.
    pub day: u32,
    pub retained: u64,
    pub rate: f64,
}

/// `GET /api/v1/games/{game_id}/analytics/funnel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Funnel {
    pub steps: Vec<FunnelStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunnelStep {
    pub event_type: String,
    /// Players who reached this step after every step before it, in order.
    pub players: u64,
}

#[cfg(test)]
mod crash_tests {
    use super::crash_signature;

    #[test]
    fn the_same_code_crashing_groups_together() {
        let a =
            "at Player::take_damage (player.gd:120)\n  at Enemy::attack 0x7ff3a2b1 (enemy.gd:45:3)\nat Main::_process (main.gd:9)\nat Engine::loop";
        let b = "at Player::take_damage (player.gd:121)\n  at Enemy::attack 0x55aa (enemy.gd:47:1)\nat   Main::_process (main.gd:10)\nat Other";
        let c = "at Player::heal (player.gd:120)\nat Enemy::attack (enemy.gd:45)\nat Main::_process (main.gd:9)";
        assert_eq!(crash_signature(a), crash_signature(b), "lines, addresses, spacing and deeper frames do not matter");
        assert_ne!(crash_signature(a), crash_signature(c));
        assert_eq!(crash_signature("\n \n"), None);
        assert_eq!(crash_signature(a).unwrap().len(), 16);
    }
}
