-- At most one persona job per user pending or running: a second request joins the one in
-- flight instead of queueing more LLM work (see api::personas::generate).
create unique index ai_jobs_one_persona_in_flight on ai_jobs (user_id)
    where kind = 'persona' and status in ('pending', 'running');
