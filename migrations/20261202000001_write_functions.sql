-- The hottest writes as PL/pgSQL functions. Through PgBouncer in transaction mode the app sends
-- unnamed statements (PgBouncer 1.18 cannot keep named ones), so Postgres parsed and planned the
-- diary insert with its notices and jobs (six CTEs, five inserts) on every call: about half of
-- POST /diaries's database time. A PL/pgSQL function keeps each of its statements' plans for the
-- life of the server connection, which PgBouncer reuses, whatever the pooler or client.

-- Queues jobs: the apalis task rows (the same columns and encoding apalis-postgres's own sink
-- writes; apalis-postgres is pinned for that reason) and, for jobs on behalf of a user, their
-- `ai_jobs` rows. The arrays are one element per job. A job whose (queue, idempotency key) is
-- already queued is skipped. With `coalesce_analysis`, so is a diary analysis whose diary already
-- has one pending (the pending one reads the diary when it runs). Returns how many were queued.
create function enqueue_jobs(
    p_ids text[], p_queues text[], p_payloads bytea[], p_keys text[], p_users bigint[],
    p_kinds text[], p_subjects bigint[], p_wakes boolean[], p_coalesce_analysis boolean
) returns bigint
language plpgsql as $$
declare
    queued_count bigint;
begin
    with queued as (
        insert into apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata, idempotency_key)
        select j.id, j.queue, j.payload, 'Pending', 0, 1,
               case when j.wakes then now() else now() + interval '1 millisecond' end,
               case when j.wakes then 10 else 0 end, ''::hstore, j.key
        from unnest(p_ids, p_queues, p_payloads, p_keys, p_wakes, p_kinds, p_subjects)
             as j(id, queue, payload, key, wakes, kind, subject)
        where not (p_coalesce_analysis and j.kind = 'diary_analysis' and exists (
            select 1 from ai_jobs a
            where a.kind = 'diary_analysis' and a.subject_id = j.subject and a.status = 'pending'))
        on conflict (job_type, idempotency_key) do nothing
        returning id),
    tracked as (
        insert into ai_jobs (id, user_id, kind, subject_id)
        select j.id, j.user_id, j.kind, j.subject_id
        from unnest(p_ids, p_users, p_kinds, p_subjects) as j(id, user_id, kind, subject_id)
        where j.user_id is not null and j.id in (select id from queued))
    select count(*) into queued_count from queued;
    return queued_count;
end $$;

-- Creates a diary with what it triggers, in the caller's statement (no transaction of its own):
-- - the 3rd, 5th and 7th diary notices, each sent once (the partial unique index makes a
--   concurrent duplicate a no-op); past 7 diaries nothing applies, so only 8 are counted;
-- - at the 3rd and 7th diary, an upgrade notice for a persona below the level those unlock,
--   unless an unread one is waiting;
-- - the jobs (`enqueue_jobs`, arrays as there; no coalescing: a new diary has nothing waiting).
-- Returns the new diary. A second diary for the same date fails on diaries' unique key.
create function create_diary(
    p_id bigint, p_user_id bigint, p_title varchar, p_content text, p_mood varchar,
    p_weather varchar, p_diary_date date, p_visibility text,
    p_job_ids text[], p_job_queues text[], p_job_payloads bytea[], p_job_keys text[],
    p_job_users bigint[], p_job_kinds text[], p_job_subjects bigint[], p_job_wakes boolean[]
) returns setof diaries
language plpgsql as $$
declare
    created diaries;
    diary_count bigint;
begin
    insert into diaries (id, user_id, title, content, mood, weather, diary_date, visibility)
    overriding system value
    values (p_id, p_user_id, p_title, p_content, p_mood, p_weather, p_diary_date, coalesce(p_visibility, 'self'))
    returning * into created;

    select count(*) into diary_count from (select 1 from diaries where user_id = p_user_id limit 8) as d;
    if diary_count <= 7 then
        insert into notifications (user_id, type, title, content)
        select p_user_id, 'milestone_' || m.n, m.title, m.content
        from (values (3, '일기 3개 달성! 🎉', '벌써 3개의 일기를 썼어요. 페르소나를 성장시킬 수 있어요!'),
                     (5, '일기 5개 달성! 🌟', '꾸준히 기록하고 있어요. 조금만 더 쓰면 완전한 페르소나를 만들 수 있어요!'),
                     (7, '일기 7개 달성! 🏆', '7개의 일기로 나만의 완전한 AI 페르소나를 만들 수 있어요!')) as m(n, title, content)
        where diary_count >= m.n
        on conflict (user_id, type) where type like 'milestone\_%' do nothing;
    end if;
    if diary_count in (3, 7) then
        insert into notifications (user_id, type, title, content)
        select p_user_id, 'persona_upgrade_available', '페르소나를 성장시킬 수 있어요! 🌱', '지금 페르소나를 업그레이드해 보세요.'
        from personas p
        where p.user_id = p_user_id
          and ((diary_count = 3 and p.level = 'temporary') or (diary_count = 7 and p.level <> 'complete'))
          and not exists (select 1 from notifications
                          where user_id = p_user_id and type = 'persona_upgrade_available' and not is_read);
    end if;

    perform enqueue_jobs(p_job_ids, p_job_queues, p_job_payloads, p_job_keys, p_job_users,
                         p_job_kinds, p_job_subjects, p_job_wakes, false);
    return next created;
end $$;
