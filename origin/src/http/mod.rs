//! Transport pieces shared by every domain's routes: extractors that reject with the
//! seed's error object, caller authentication, request ids, metrics, health.

pub mod extract;
pub mod middleware;
pub mod ops;
