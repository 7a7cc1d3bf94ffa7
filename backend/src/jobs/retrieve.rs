//! A chat reply's memories: the persona owner's diaries most relevant to the conversation, of
//! those the asker may see. Two rankings, fused by reciprocal rank (`1 / (60 + rank)` summed):
//! semantic (the query's embedding against the stored ones: the nearest sign bits first, then
//! an exact cosine re-rank of those candidates) and lexical (the diaries containing the most of
//! the query's words). Without embeddings (the endpoint down, or none stored by the current
//! model yet) it is lexical alone; with no match at all, the latest diaries, as before
//! retrieval. Which of the three happened is counted in `retrieval_total{mode}`.

use super::{
    context::Context,
    error::JobError,
    reads::{self, ReadBy},
};
use crate::{
    data::{
        diaries::DiaryText,
        embeddings,
        retrieval::{self, Source},
    },
    llm::prompts,
};

/// Candidates the bit pass hands to the exact re-rank.
const CANDIDATES: i64 = 50;
/// Diaries each ranking contributes to the fusion.
const PER_RANKING: usize = 10;
/// The fusion's constant: ranks past the first few matter little.
const RRF_K: f32 = 60.0;
/// Characters of diary text the memories may take in all (each diary is also cut at the
/// prompt's own limit): the token budget of the memories.
const MEMORY_CHARS: usize = 6_000;

/// What the reply remembers, and what it cites.
pub struct Memories {
    pub diaries: Vec<prompts::DiaryText>,
    pub sources: Vec<Source>,
}

/// Up to `k` of `owner_id`'s diaries for `query`, read (and logged) as `by`.
pub async fn memories(
    ctx: &Context,
    owner_id: i64,
    query: &str,
    k: usize,
    by: ReadBy<'_>,
) -> Result<Memories, JobError> {
    let terms = terms(query);
    let lexical = async {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut db = ctx.db.reader(None).await?;
        Ok::<_, JobError>(retrieval::lexical(&mut db, owner_id, by.audience(), &terms, PER_RANKING as i64).await?)
    };
    // Both rankings at once, each on its own connection: the reply waits for the slower one,
    // not for their sum.
    let (semantic, lexical) = tokio::try_join!(semantic(ctx, owner_id, query, by), lexical)?;
    let chosen = fuse(&[semantic.as_deref().unwrap_or_default(), &lexical], k);
    let mode = match (&semantic, chosen.is_empty()) {
        (_, true) => "latest",
        (Some(_), false) => "hybrid",
        (None, false) => "lexical_only",
    };
    metrics::counter!("retrieval_total", "mode" => mode).increment(1);
    let mut db = ctx.db.writer().await?;
    let read = match chosen.is_empty() {
        true => reads::latest_texts(&mut db, owner_id, k as i64, by).await?,
        false => reads::chosen(&mut db, owner_id, &chosen, by).await?,
    };
    Ok(within_budget(read))
}

/// The semantic ranking, or `None` when there is none to be had (no embedding for the query).
async fn semantic(ctx: &Context, owner_id: i64, query: &str, by: ReadBy<'_>) -> Result<Option<Vec<i64>>, JobError> {
    let query_vector = match ctx.llm.embed(&[query.to_owned()], false).await {
        Ok(mut vectors) => vectors.swap_remove(0),
        Err(err) => {
            tracing::warn!(error = %err, "query embedding failed; retrieving by words alone");
            return Ok(None);
        }
    };
    let model = (ctx.llm.embedding_model(), ctx.llm.embedding_dim());
    let bits = embeddings::sign_bits(&query_vector);
    let mut db = ctx.db.reader(None).await?;
    let candidates = retrieval::nearest_by_bits(&mut db, owner_id, by.audience(), model, &bits, CANDIDATES).await?;
    if candidates.is_empty() {
        return Ok(None);
    }
    let mut scored: Vec<(f32, i64)> = candidates
        .iter()
        .map(|c| (cosine(&query_vector, &embeddings::decode(&c.vector)), c.diary_id))
        .filter(|(similarity, _)| *similarity > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(Some(scored.into_iter().take(PER_RANKING).map(|(_, id)| id).collect()))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let n = norm(a) * norm(b);
    if n > 0.0 { dot / n } else { 0.0 }
}

/// Reciprocal rank fusion: the `k` ids with the highest `sum(1 / (RRF_K + rank))`.
fn fuse(rankings: &[&[i64]], k: usize) -> Vec<i64> {
    let mut scores: Vec<(i64, f32)> = Vec::new();
    for ranking in rankings {
        for (rank, id) in ranking.iter().enumerate() {
            let add = 1.0 / (RRF_K + rank as f32 + 1.0);
            match scores.iter_mut().find(|(i, _)| i == id) {
                Some((_, score)) => *score += add,
                None => scores.push((*id, add)),
            }
        }
    }
    scores.sort_by(|a, b| b.1.total_cmp(&a.1));
    scores.into_iter().take(k).map(|(id, _)| id).collect()
}

/// The query's words worth matching: two characters or more, and for a Hangul word of three or
/// more also its stem without the last syllable and its first two (Korean attaches particles
/// and endings: `걱정했던` is found as `걱정`). At most eight.
fn terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut add = |t: String| {
        if t.chars().count() >= 2 && !terms.contains(&t) && terms.len() < 8 {
            terms.push(t);
        }
    };
    for word in query.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase();
        let chars: Vec<char> = word.chars().collect();
        let hangul = chars.iter().all(|c| ('\u{AC00}'..='\u{D7A3}').contains(c));
        if hangul && chars.len() >= 3 {
            add(chars[..chars.len() - 1].iter().collect());
            add(chars[..2].iter().collect());
        } else {
            add(word);
        }
    }
    terms
}

/// The diaries as memories, stopping before their text passes `MEMORY_CHARS`, and their sources.
fn within_budget(read: Vec<DiaryText>) -> Memories {
    let (mut diaries, mut sources, mut used) = (Vec::new(), Vec::new(), 0);
    for diary in read {
        let size = diary.content.chars().count().min(prompts::DIARY_CHARS);
        if used + size > MEMORY_CHARS && !diaries.is_empty() {
            break;
        }
        used += size;
        sources.push(Source { diary_id: diary.id, diary_date: diary.diary_date, title: diary.title.clone() });
        diaries.push(reads::prompt_text(diary));
    }
    Memories { diaries, sources }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_words_are_matched_by_their_stems() {
        assert_eq!(terms("봄에 걱정했던 게 뭐였지?"), ["봄에", "걱정했", "걱정", "뭐였"]);
        assert_eq!(terms("Coffee with Jimin"), ["coffee", "with", "jimin"]);
    }

    #[test]
    fn fusion_prefers_what_both_rankings_found() {
        assert_eq!(fuse(&[&[1, 2, 3], &[3, 4]], 2), [3, 1]);
        assert_eq!(fuse(&[&[], &[4, 5]], 3), [4, 5]);
    }
}
