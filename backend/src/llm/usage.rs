//! Tokens spent by the LLM calls of one job, counted without threading a counter through every
//! call: the job runs inside [`counted`], and each call adds its usage to the running task's
//! counter (calls outside a counted task are only in the metrics).

use std::cell::Cell;

tokio::task_local! {
    static TOKENS: Cell<u64>;
}

/// Runs `work`, and returns its output with the tokens its LLM calls used (in and out).
pub async fn counted<F: Future>(work: F) -> (F::Output, u64) {
    TOKENS
        .scope(Cell::new(0), async {
            let output = work.await;
            (output, TOKENS.with(Cell::get))
        })
        .await
}

/// Adds one call's tokens to the running job's count.
pub(super) fn add(tokens: u64) {
    let _ = TOKENS.try_with(|t| t.set(t.get() + tokens));
}
