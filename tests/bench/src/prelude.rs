//! What every benchmark module uses.

pub(crate) use std::net::SocketAddr;
pub(crate) use std::path::PathBuf;
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
pub(crate) use std::sync::{Arc, Mutex};
pub(crate) use std::time::{Duration, Instant};

pub(crate) use anyhow::Context;
pub(crate) use serde_json::{json, Map, Value};

pub(crate) use aethex_tests::{cpu_secs, cpu_split, pin, rss_kib, GameFixture, Origin};

pub(crate) use crate::build::*;
pub(crate) use crate::load::*;
pub(crate) use crate::redis::*;
pub(crate) use crate::tools::*;
pub(crate) use crate::Args;
