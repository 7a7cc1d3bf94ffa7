//! Diary embeddings, made by the worker: with each diary's analysis (the same job, so quick
//! edits coalesce into one), skipped when the model, dimension and text are those of the stored
//! one, never for a `private` diary (making one private deletes its embedding). An embedding
//! outage never fails the analysis: it is logged and counted (`embeddings_total{outcome}`), and
//! the backfill picks the diary up later. The backfill (`dearme embeddings backfill`, and the
//! worker in the background after a model change) embeds every diary that has no embedding by
//! the current model, in batches.

use std::time::Duration;

use super::{context::Context, error::JobError};
use crate::data::{
    diaries::DiaryText,
    diary_access,
    embeddings::{self, NewEmbedding},
};

/// Diaries per backfill call to the embedding endpoint.
const BATCH: i64 = 64;

fn counted(outcome: &'static str, n: u64) {
    metrics::counter!("embeddings_total", "outcome" => outcome).increment(n);
}

/// Embeds `diary` (already read, and logged, by its analysis) unless its embedding is current.
pub async fn refresh(ctx: &Context, user_id: i64, diary: &DiaryText) -> Result<(), JobError> {
    let (model, dim) = (ctx.llm.embedding_model(), ctx.llm.embedding_dim());
    let text = embeddings::text_of(&diary.title, &diary.content);
    let hash = embeddings::hash(model, dim, &text);
    if embeddings::stored_hash(&mut ctx.db.writer().await?, diary.id).await?.as_deref() == Some(hash.as_str()) {
        counted("unchanged", 1);
        return Ok(());
    }
    match ctx.llm.embed(&[text], true).await {
        Ok(vectors) => {
            let e = NewEmbedding { diary_id: diary.id, user_id, model, dim, hash: &hash, vector: &vectors[0] };
            embeddings::store(&mut ctx.db.writer().await?, &e).await?;
            counted("stored", 1);
        }
        Err(err) => {
            tracing::warn!(diary_id = diary.id, error = %err, "embedding failed; the backfill will retry it");
            counted("failed", 1);
        }
    }
    Ok(())
}

/// The diary is gone from what may reach an LLM (deleted, or made private): so is its embedding.
pub async fn forget(ctx: &Context, diary_id: i64) -> Result<(), JobError> {
    embeddings::delete(&mut ctx.db.writer().await?, diary_id).await?;
    Ok(())
}

/// Embeds every diary (only `user_id`'s, if given) without an embedding by the current model,
/// `BATCH` at a time; returns how many it stored. Each read is in its owner's access log (job
/// `backfill`, kind `embedding`).
pub async fn backfill(ctx: &Context, user_id: Option<i64>, pause: Duration) -> Result<u64, JobError> {
    let (model, dim) = (ctx.llm.embedding_model(), ctx.llm.embedding_dim());
    let mut stored = 0;
    loop {
        let mut db = ctx.db.writer().await?;
        let pending = embeddings::missing(&mut db, (model, dim), user_id, BATCH).await?;
        if pending.is_empty() {
            return Ok(stored);
        }
        let texts: Vec<String> = pending.iter().map(|d| embeddings::text_of(&d.title, &d.content)).collect();
        for d in &pending {
            diary_access::record(&mut db, d.user_id, &[d.id], None, "backfill", "embedding").await?;
        }
        drop(db);
        let vectors = ctx.llm.embed(&texts, true).await.inspect_err(|_| counted("failed", pending.len() as u64))?;
        let mut db = ctx.db.writer().await?;
        for ((d, text), vector) in pending.iter().zip(&texts).zip(&vectors) {
            let hash = embeddings::hash(model, dim, text);
            let e = NewEmbedding { diary_id: d.id, user_id: d.user_id, model, dim, hash: &hash, vector };
            embeddings::store(&mut db, &e).await?;
        }
        counted("stored", pending.len() as u64);
        stored += pending.len() as u64;
        tokio::time::sleep(pause).await;
    }
}

/// The worker's background backfill: runs once at start (a model change, or diaries written
/// while embeddings were down), then every `every`; failures wait for the next round.
pub async fn backfill_forever(ctx: std::sync::Arc<Context>, every: Duration) {
    loop {
        match backfill(&ctx, None, Duration::from_millis(200)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(embedded = n, "embedding backfill stored diaries"),
            Err(err) => tracing::warn!(error = %err, "embedding backfill failed; retrying later"),
        }
        tokio::time::sleep(every).await;
    }
}
