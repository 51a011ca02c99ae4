//! Who the current request acts as, for the audit log: named by the access-token check
//! ([`crate::auth::caller::authenticate`]), read by [`super::audit::record`].

use std::cell::RefCell;

tokio::task_local! {
    static ACTOR: RefCell<Option<String>>;
}

/// Notes the authenticated player of the current request (no-op outside [`track`]).
pub fn note(user_id: &str) {
    let _ = ACTOR.try_with(|a| *a.borrow_mut() = Some(user_id.to_string()));
}

/// Runs a request and returns, with its answer, the player it acted as (if any).
pub async fn track<F: std::future::Future>(fut: F) -> (F::Output, Option<String>) {
    ACTOR
        .scope(RefCell::new(None), async move {
            let out = fut.await;
            (out, ACTOR.with(|a| a.borrow().clone()))
        })
        .await
}
