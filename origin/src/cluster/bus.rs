//! Messages between the origins of a cluster (Redis pub/sub): what one origin changed that
//! the others hold in memory or wait on.
//!
//! Delivery is at most once: a message published while a subscriber is disconnected is
//! lost to it. Subscribers therefore hear [`Heard::Resubscribed`] after every (re)connect
//! and treat it as "anything may have changed" (drop caches, re-read the database).

use std::time::Duration;

use futures::StreamExt;

use super::{ClusterError, Redis};

/// A replicated write committed up to the position in the payload (decimal).
pub const OUTBOX_HEAD: &str = "aethex:outbox-head";
/// A game's client key changed: cached client keys are stale.
pub const CLIENT_KEYS: &str = "aethex:client-keys";
/// A game's active logic version changed (payload: the game id).
pub const GAME_LOGIC: &str = "aethex:game-logic";

/// What a subscriber hears.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard<'a> {
    /// A message on one of its channels.
    Message { channel: &'a str, payload: &'a str },
    /// Subscribed (again): messages may have been missed before this.
    Resubscribed,
}

impl Redis {
    /// Publishes `payload` on `channel` (to the origins subscribed now).
    pub async fn publish(&self, channel: &str, payload: &str) -> Result<(), ClusterError> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("PUBLISH").arg(channel).arg(payload).query_async(&mut conn).await?;
        Ok(())
    }

    /// Publishes, logging and counting a failure instead of returning it: for messages
    /// whose loss only delays the others (they re-read on their own schedule).
    pub async fn tell(&self, channel: &str, payload: &str) {
        if let Err(e) = tokio::time::timeout(super::CALL_TIMEOUT, self.publish(channel, payload))
            .await
            .unwrap_or_else(|_| Err(ClusterError(redis::RedisError::from((redis::ErrorKind::IoError, "publish timed out")))))
        {
            metrics::counter!("aethex_cluster_redis_errors_total", "use" => "publish").increment(1);
            tracing::warn!(error = %e, channel, "could not tell the other origins");
        }
    }

    /// Subscribes to `channels` on a connection of its own, in a task that hands every
    /// message to `on` until `on` answers `false`. A lost connection is made again (after
    /// a pause that grows to 2 s), and `on` hears [`Heard::Resubscribed`] each time.
    pub fn listen<F>(&self, channels: &'static [&'static str], mut on: F)
    where
        F: FnMut(Heard<'_>) -> bool + Send + 'static,
    {
        let client = self.client.clone();
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(50);
            loop {
                match subscribe(&client, channels).await {
                    Ok(pubsub) => {
                        pause = Duration::from_millis(50);
                        if !on(Heard::Resubscribed) {
                            return;
                        }
                        let mut messages = pubsub.into_on_message();
                        while let Some(msg) = messages.next().await {
                            let payload: String = msg.get_payload().unwrap_or_default();
                            if !on(Heard::Message { channel: msg.get_channel_name(), payload: &payload }) {
                                return;
                            }
                        }
                        tracing::warn!("the cluster's message connection to Redis closed; subscribing again");
                    }
                    Err(e) => {
                        metrics::counter!("aethex_cluster_redis_errors_total", "use" => "subscribe").increment(1);
                        tracing::warn!(error = %e, "could not subscribe to the cluster's messages; trying again");
                    }
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        });
    }
}

async fn subscribe(client: &redis::Client, channels: &[&str]) -> Result<redis::aio::PubSub, ClusterError> {
    let mut pubsub = tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub())
        .await
        .map_err(|_| ClusterError(redis::RedisError::from((redis::ErrorKind::IoError, "connect timed out"))))??;
    pubsub.subscribe(channels).await?;
    Ok(pubsub)
}
