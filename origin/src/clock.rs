//! Time as the database stores it: RFC 3339 text in UTC with milliseconds, which sorts
//! as text. Below everything else (config, crypto and the database read it).

/// Current time as stored: RFC 3339, UTC, milliseconds (sorts as text).
pub fn now() -> String {
    ts(chrono::Utc::now())
}

/// [`ts`] of Unix milliseconds (empty when out of range).
pub fn ts_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(ts).unwrap_or_default()
}

pub fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `now + secs`, as stored.
pub fn in_secs(secs: u64) -> String {
    ts(chrono::Utc::now() + chrono::Duration::seconds(secs.min(i64::MAX as u64 / 1000) as i64))
}
