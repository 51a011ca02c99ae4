//! `AeThexCloud.analytics`: the seed's `track_event`, `track_metric`, `track_screen`,
//! `set_user_property` and `enable_crash_reporting`. Events queue in the client and go out
//! in batches (`flush`); a batch that fails stays queued for the next flush (offline
//! play), up to [`MAX_QUEUED`] events (the oldest are dropped beyond). Analytics are
//! opt-in: `set_consent(true)` first, or origin drops the events.

use reqwest::Method;
use serde_json::{json, Map, Value};

use aethex_protocol::analytics::{
    Assignments, Consent, CrashAccepted, CrashReport, Event, EventBatch, EventKind, IngestResult, EXPOSURE_EVENT, MAX_BATCH_EVENTS,
};

use crate::{AeThexCloud, SdkResult};

/// Most events kept while origin cannot be reached.
pub const MAX_QUEUED: usize = 10_000;

pub struct Analytics<'a> {
    pub(crate) cloud: &'a AeThexCloud,
}

impl Analytics<'_> {
    pub async fn set_consent(&self, analytics: bool) -> SdkResult<Consent> {
        self.cloud.request(Method::PUT, "/api/v1/analytics/consent", Some(&Consent { analytics }), true).await
    }

    fn queue(&self, event_type: &str, kind: EventKind, properties: Map<String, Value>) {
        let event = Event {
            event_id: uuid::Uuid::new_v4().to_string(),
            user_id: None,
            game_id: None,
            event_type: event_type.to_string(),
            kind,
            timestamp: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            session_id: None,
            properties,
            device: Map::new(),
        };
        let mut st = self.cloud.lock();
        st.analytics_queue.push_back(event);
        while st.analytics_queue.len() > MAX_QUEUED {
            st.analytics_queue.pop_front();
        }
    }

    /// The seed's `track_event("level_completed", {...})`.
    pub fn track_event(&self, event_type: &str, properties: Value) {
        self.queue(event_type, EventKind::Event, properties.as_object().cloned().unwrap_or_default());
    }

    /// The seed's `track_metric("fps", 60)`.
    pub fn track_metric(&self, name: &str, value: f64) {
        self.queue(name, EventKind::Metric, json!({ "value": value }).as_object().cloned().unwrap_or_default());
    }

    /// The seed's `track_screen("main_menu")`.
    pub fn track_screen(&self, screen: &str) {
        self.queue("screen_view", EventKind::Screen, json!({ "screen": screen }).as_object().cloned().unwrap_or_default());
    }

    /// The seed's `set_user_property("vip_status", true)`.
    pub fn set_user_property(&self, name: &str, value: Value) {
        self.queue("user_property", EventKind::UserProperty, json!({ "name": name, "value": value }).as_object().cloned().unwrap_or_default());
    }

    /// Sends a crash report at once (stack trace one frame per line, innermost first);
    /// origin groups it with crashes of the same top frames.
    pub async fn report_crash(
        &self,
        game_version: &str,
        stack_trace: &str,
        message: Option<&str>,
        logs_tail: Option<&str>,
    ) -> SdkResult<CrashAccepted> {
        let report = CrashReport {
            report_id: uuid::Uuid::new_v4().to_string(),
            game_version: game_version.to_string(),
            stack_trace: stack_trace.to_string(),
            message: message.map(str::to_string),
            logs_tail: logs_tail.map(str::to_string),
            timestamp: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            session_id: None,
            device: Map::new(),
        };
        self.cloud.request(Method::POST, "/api/v1/analytics/crashes", Some(&report), true).await
    }

    /// The player's variant of an A/B test (`None` when it is not running), recording the
    /// exposure as an event (sent with the next `flush`), which the results count.
    pub async fn experiment_variant(&self, experiment_id: &str) -> SdkResult<Option<String>> {
        let path = format!("/api/v1/experiments?experiment_id={}", crate::leaderboards::enc(experiment_id));
        let got: Assignments = self.cloud.request::<Value, _>(Method::GET, &path, None, true).await?;
        let variant = got.assignments.into_iter().find(|a| a.experiment_id == experiment_id).map(|a| a.variant);
        if let Some(v) = &variant {
            self.track_event(EXPOSURE_EVENT, json!({ "experiment_id": experiment_id, "variant": v }));
        }
        Ok(variant)
    }

    /// Events waiting to be sent.
    pub fn queued(&self) -> usize {
        self.cloud.lock().analytics_queue.len()
    }

    /// Sends the queue in batches. Events of a batch origin answered stay sent (stored,
    /// duplicates, rejected or dropped for lack of consent alike); on a network or server
    /// error the batch goes back to the front of the queue and the error is returned.
    pub async fn flush(&self) -> SdkResult<IngestResult> {
        let mut total = IngestResult::default();
        loop {
            let batch: Vec<Event> = {
                let mut st = self.cloud.lock();
                let n = st.analytics_queue.len().min(MAX_BATCH_EVENTS);
                st.analytics_queue.drain(..n).collect()
            };
            if batch.is_empty() {
                return Ok(total);
            }
            let body = EventBatch { events: batch };
            match self.cloud.request::<_, IngestResult>(Method::POST, "/api/v1/analytics/events", Some(&body), true).await {
                Ok(r) => {
                    total.accepted += r.accepted;
                    total.duplicates += r.duplicates;
                    total.dropped_no_consent += r.dropped_no_consent;
                    total.rejected.extend(r.rejected);
                }
                Err(e) => {
                    let mut st = self.cloud.lock();
                    for ev in body.events.into_iter().rev() {
                        st.analytics_queue.push_front(ev);
                    }
                    while st.analytics_queue.len() > MAX_QUEUED {
                        st.analytics_queue.pop_back();
                    }
                    return Err(e);
                }
            }
        }
    }
}
