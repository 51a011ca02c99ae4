//! Transport pieces shared by every domain's routes: extractors that reject with the
//! seed's error object (the identity they extract is `crate::auth::caller`'s), request
//! ids, metrics and health.

pub mod extract;
pub mod jsonrpc;
pub mod middleware;
pub mod ops;
