-- Chats with personas, mental analyses and reports, and the user-facing record of AI jobs.

create table chats (
    id              bigint generated always as identity primary key,
    user_id         bigint not null references users (id) on delete cascade,
    persona_id      bigint not null references personas (id) on delete cascade,
    is_own_persona  boolean not null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
create index chats_user_idx on chats (user_id, updated_at desc);

create table chat_messages (
    id          bigint generated always as identity primary key,
    chat_id     bigint not null references chats (id) on delete cascade,
    content     text not null,
    is_user     boolean not null,
    -- An AI reply names the user message it answers: a retried reply job cannot add a second one.
    reply_to    bigint references chat_messages (id) on delete cascade,
    created_at  timestamptz not null default now(),
    constraint chat_messages_reply_to_key unique (reply_to)
);
create index chat_messages_chat_idx on chat_messages (chat_id, id);

-- One analysis per diary (an update replaces it), produced by the diary's analysis job.
create table mental_analyses (
    id                          bigint generated always as identity primary key,
    user_id                     bigint not null references users (id) on delete cascade,
    diary_id                    bigint references diaries (id) on delete cascade,
    emotional_stability_score   smallint not null check (emotional_stability_score between 0 and 100),
    vitality_score              smallint not null check (vitality_score between 0 and 100),
    self_esteem_score           smallint not null check (self_esteem_score between 0 and 100),
    positivity_score            smallint not null check (positivity_score between 0 and 100),
    social_connection_score     smallint not null check (social_connection_score between 0 and 100),
    resilience_score            smallint not null check (resilience_score between 0 and 100),
    overall_status              text not null check (overall_status in ('good', 'neutral', 'concerning', 'critical')),
    analysis_date               date not null,
    -- MentalFeedback, written by the same job (no GET calls the LLM).
    feedback                    jsonb,
    created_at                  timestamptz not null default now(),
    constraint mental_analyses_diary_key unique (diary_id)
);
create index mental_analyses_user_idx on mental_analyses (user_id, created_at desc);

-- One report per user, kind and period: a new week or month gets a new report.
create table mental_reports (
    id                              bigint generated always as identity primary key,
    user_id                         bigint not null references users (id) on delete cascade,
    report_type                     text not null check (report_type in ('weekly', 'monthly')),
    period_start                    date not null,
    period_end                      date not null,
    avg_emotional_stability_score   smallint not null,
    avg_vitality_score              smallint not null,
    avg_self_esteem_score           smallint not null,
    avg_positivity_score            smallint not null,
    avg_social_connection_score     smallint not null,
    avg_resilience_score            smallint not null,
    trend                           text not null check (trend in ('improving', 'stable', 'declining')),
    insights                        text[],
    recommendations                 text[],
    created_at                      timestamptz not null default now(),
    constraint mental_reports_period_key unique (user_id, report_type, period_start)
);

-- What the user sees of a background job (the queue itself is apalis.jobs).
create table ai_jobs (
    id          text primary key,
    user_id     bigint not null references users (id) on delete cascade,
    kind        text not null,
    -- What the job is about (a chat reply's user message, an analysed diary), for lookups.
    subject_id  bigint,
    status      text not null default 'pending' check (status in ('pending', 'running', 'done', 'failed')),
    progress    smallint not null default 0 check (progress between 0 and 100),
    result      jsonb,
    error       text,
    attempts    integer not null default 0,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create index ai_jobs_user_idx on ai_jobs (user_id, created_at desc);
create index ai_jobs_subject_idx on ai_jobs (kind, subject_id) where subject_id is not null;

-- Short AI texts cached per user and period (weekly summary, prompt suggestions).
create table ai_texts (
    user_id     bigint not null references users (id) on delete cascade,
    kind        text not null,
    period      text not null,
    content     jsonb not null,
    created_at  timestamptz not null default now(),
    primary key (user_id, kind, period)
);

-- The unread badge is polled every 30 s by every page: count unread rows from the index alone.
create index notifications_user_unread_idx on notifications (user_id) where not is_read;
