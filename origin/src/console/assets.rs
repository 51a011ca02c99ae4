//! The console's files, embedded in the binary: our page (`origin/console/`) and the
//! front-end packages `build.rs` fetched from npm (preact, htm, uPlot).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::http::extract::ApiPath;

macro_rules! vendor {
    ($f:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/console-vendor/", $f))
    };
}

/// (path under /console/, content type, bytes)
const FILES: &[(&str, &str, &[u8])] = &[
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../console/app.js")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../../console/style.css")),
    ("vendor/preact.module.js", "text/javascript; charset=utf-8", vendor!("preact.module.js")),
    ("vendor/hooks.module.js", "text/javascript; charset=utf-8", vendor!("hooks.module.js")),
    ("vendor/htm.module.js", "text/javascript; charset=utf-8", vendor!("htm.module.js")),
    ("vendor/uPlot.esm.js", "text/javascript; charset=utf-8", vendor!("uPlot.esm.js")),
    ("vendor/uPlot.min.css", "text/css; charset=utf-8", vendor!("uPlot.min.css")),
];

const INDEX: &str = include_str!("../../console/index.html");
/// Why the npm packages are missing, or empty (build.rs).
const STATUS: &str = include_str!(concat!(env!("OUT_DIR"), "/console-status.txt"));

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; frame-ancestors 'none'";

pub async fn index() -> Response {
    if !STATUS.is_empty() {
        let body = format!(
            "<!doctype html><title>AeThex console</title><p>The console was built without its front-end packages: {}</p>",
            crate::html::escape_html(STATUS)
        );
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        INDEX,
    )
        .into_response()
}

pub async fn file(ApiPath(path): ApiPath<String>) -> Response {
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, ty, bytes)) => {
            ([(header::CONTENT_TYPE, *ty), (header::CACHE_CONTROL, "no-cache"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], *bytes).into_response()
        }
        None => crate::error::ApiError::not_found("path", "no such console file").into_response(),
    }
}
