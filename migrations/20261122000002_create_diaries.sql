-- Diaries (one per user per date) and the notifications that writing them produces.

create table diaries (
    id          bigint generated always as identity primary key,
    user_id     bigint not null references users (id) on delete cascade,
    title       varchar(200) not null,
    content     text not null,
    mood        varchar(50),
    weather     varchar(50),
    diary_date  date not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    -- Also the index behind every per-user listing, newest date first.
    constraint diaries_user_date_key unique (user_id, diary_date)
);

create table notifications (
    id          bigint generated always as identity primary key,
    user_id     bigint not null references users (id) on delete cascade,
    type        text not null,
    title       varchar(200) not null,
    content     text,
    is_read     boolean not null default false,
    related_id  bigint,
    created_at  timestamptz not null default now()
);
create index notifications_user_created_idx on notifications (user_id, created_at desc);
-- Each milestone is sent once per user, whatever the concurrency.
create unique index notifications_milestone_once on notifications (user_id, type) where type like 'milestone\_%';
