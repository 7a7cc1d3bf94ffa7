//! The embedding model diaries are embedded with, at the LLM endpoint's `/v1/embeddings`. Each
//! stored vector records its model and dimension: change either and the worker re-embeds every
//! diary in the background.

use super::check::Env;

#[derive(Clone, Debug)]
pub struct EmbeddingSettings {
    pub model: String,
    /// Sent as `dimensions` (text-embedding-3 models shorten to it); the answer must have it.
    pub dim: usize,
}

impl EmbeddingSettings {
    pub(super) fn read(env: &mut Env<'_>) -> Self {
        Self {
            model: env.optional("EMBEDDING_MODEL").unwrap_or_else(|| "text-embedding-3-small".into()),
            dim: env.parse_or("EMBEDDING_DIM", 768),
        }
    }
}
