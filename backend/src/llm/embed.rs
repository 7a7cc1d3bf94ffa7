//! Embeddings through the endpoint's `POST /v1/embeddings` (the model and dimension of
//! `EMBEDDING_MODEL` / `EMBEDDING_DIM`), with the same permits, timeout and retries as
//! completions.

use async_openai::types::embeddings::{CreateEmbeddingRequest, CreateEmbeddingResponse};
use serde_json::json;

use super::{Llm, LlmError, classify};

impl Llm {
    /// The embedding model's name (stored with every vector).
    pub fn embedding_model(&self) -> &str {
        &self.settings.embedding.model
    }

    /// The vectors' dimension.
    pub fn embedding_dim(&self) -> usize {
        self.settings.embedding.dim
    }

    /// One vector per text, in order. `background` as for prompts: at most half the calls.
    pub async fn embed(&self, texts: &[String], background: bool) -> Result<Vec<Vec<f32>>, LlmError> {
        const OP: &str = "embedding";
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.embed_once(texts, background).await {
                Ok(vectors) => return Ok(vectors),
                Err(err) if err.retryable() && attempt < self.settings.max_attempts => {
                    tracing::warn!(op = OP, attempt, error = %err, "embedding call failed; retrying");
                    tokio::time::sleep(self.delay(attempt, &err)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn embed_once(&self, texts: &[String], background: bool) -> Result<Vec<Vec<f32>>, LlmError> {
        let settings = &self.settings.embedding;
        let request: CreateEmbeddingRequest = serde_json::from_value(json!({
            "model": settings.model,
            "input": texts,
            "dimensions": settings.dim,
            "encoding_format": "float",
        }))
        .map_err(|e| LlmError::Other(format!("building the request: {e}")))?;
        let _permits = self.permits_for(background).await?;
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(self.settings.timeout, self.client.embeddings().create(request)).await;
        let result: Result<CreateEmbeddingResponse, LlmError> = match result {
            Ok(r) => r.map_err(classify),
            Err(_) => Err(LlmError::Timeout),
        };
        self.observe("embedding", started, result.as_ref().err());
        let mut response = result?;
        self.count_tokens("embedding", response.usage.prompt_tokens, 0);
        response.data.sort_by_key(|e| e.index);
        if response.data.len() != texts.len() {
            let got = response.data.len();
            return Err(LlmError::InvalidOutput(format!("{got} embeddings for {} texts", texts.len())));
        }
        let vectors: Vec<Vec<f32>> = response.data.into_iter().map(|e| e.embedding).collect();
        if let Some(v) = vectors.iter().find(|v| v.len() != settings.dim) {
            let msg = format!("the model answers {} dimensions, EMBEDDING_DIM is {}", v.len(), settings.dim);
            return Err(LlmError::InvalidOutput(msg));
        }
        Ok(vectors)
    }
}
