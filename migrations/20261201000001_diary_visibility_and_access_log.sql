-- Privacy tiers per diary, enforced in the statements that read diary text for an LLM:
--   private  never sent to any LLM: no persona, analysis, summary or chat memory reads it
--   self     the owner's own persona, chats and analyses (the default)
--   friends  may also inform the owner's persona when a friend chats with it
-- Existing diaries become `self`: nothing reaches a friend's chat until its owner says so.
alter table diaries
    add column visibility text not null default 'self'
        constraint diaries_visibility_check check (visibility in ('private', 'self', 'friends'));

-- Every read of a diary's text by an LLM job, for its owner to see: which diary, when, which job,
-- and on whose behalf (a friend's chat names the friend; the owner's own jobs leave it null).
create table diary_access_log (
    id          bigint generated always as identity primary key,
    owner_id    bigint not null references users (id) on delete cascade,
    diary_id    bigint not null references diaries (id) on delete cascade,
    reader_id   bigint references users (id) on delete set null,
    job_id      text not null,
    job_kind    text not null,
    accessed_at timestamptz not null default now()
);
create index diary_access_log_owner_idx on diary_access_log (owner_id, accessed_at desc, id desc);
create index diary_access_log_diary_idx on diary_access_log (diary_id);
