//! The development double's `POST /v1/embeddings`: deterministic vectors that reflect what two
//! texts share, so retrieval can be tested for meaning without a model. Each word (lower-cased,
//! split at anything not alphanumeric; Hangul counts as alphanumeric) and each of its character
//! bigrams and trigrams is a feature (whole words weigh most), projected onto every dimension
//! with pseudo-random signs drawn from its hash (FNV-1a). The sum is L2-normalised: texts that
//! share words and word pieces (`산책` in `산책했다`) have a high cosine similarity, unrelated
//! texts one near zero.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

/// The vector of `text` in `dim` dimensions (unit length; all zeros for a text with no words).
pub fn embed(text: &str, dim: usize) -> Vec<f32> {
    let mut v = vec![0f32; dim.max(1)];
    // Each feature adds its weight times a pseudo-random ±1 per dimension, drawn from its hash: a
    // random projection, so vectors are dense like a model's and their signs behave like one's
    // (the angle between two vectors shows in how many signs differ).
    let mut add = |feature: &str, weight: f32| {
        let mut state = fnv1a(feature.as_bytes()) | 1;
        for chunk in v.chunks_mut(64) {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for (i, x) in chunk.iter_mut().enumerate() {
                *x += if (state >> i) & 1 == 1 { weight } else { -weight };
            }
        }
    };
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase();
        add(&format!("w:{word}"), 2.0);
        let chars: Vec<char> = word.chars().collect();
        for n in [2, 3] {
            for gram in chars.windows(n) {
                add(&format!("{n}:{}", gram.iter().collect::<String>()), 1.0);
            }
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[derive(Deserialize)]
pub(super) struct EmbeddingRequest {
    model: String,
    input: Input,
    #[serde(default)]
    dimensions: Option<usize>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
}

/// 768 dimensions unless the request asks for others (as OpenAI's text-embedding-3 models do).
pub(super) async fn embeddings(
    State(down): State<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    Json(req): Json<EmbeddingRequest>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    if down.load(std::sync::atomic::Ordering::SeqCst) {
        let error = json!({ "error": { "message": "embeddings are down (dev-llm control)", "type": "server_error" } });
        return Err((StatusCode::SERVICE_UNAVAILABLE, Json(error)));
    }
    let texts = match req.input {
        Input::One(text) => vec![text],
        Input::Many(texts) => texts,
    };
    let dim = req.dimensions.unwrap_or(768).clamp(1, 4096);
    let tokens: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| json!({ "object": "embedding", "index": index, "embedding": embed(text, dim) }))
        .collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": req.model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    })))
}

#[cfg(test)]
mod tests {
    use super::embed;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn texts_that_share_words_are_closer_than_unrelated_ones() {
        let query = embed("봄에 시험 걱정을 했던 날", 256);
        let related = embed("벚꽃이 지기 전에 시험 걱정 때문에 잠을 못 잤다", 256);
        let unrelated = embed("회사에 가서 일을 하고 저녁을 먹었다", 256);
        let (near, far) = (cosine(&query, &related), cosine(&query, &unrelated));
        assert!(near > 0.1 && near > 3.0 * far.max(0.0), "related {near}, unrelated {far}");
        assert_eq!(embed("같은 글", 64), embed("같은 글", 64), "deterministic");
        let norm: f32 = related.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}
