-- Personas (built by the worker; friends see public ones), friendships and subscriptions.

create table personas (
    id              bigint generated always as identity primary key,
    user_id         bigint not null references users (id) on delete cascade,
    name            varchar(100) not null,
    personality     text not null,
    traits          text[],
    speaking_style  text,
    avatar_url      text,
    is_public       boolean not null default true,
    -- Sparse: only the keys a user set (contract: always returned with all four keys).
    customization   jsonb,
    level           text not null default 'complete' check (level in ('temporary', 'basic', 'complete')),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint personas_user_id_key unique (user_id)
);
create index personas_public_idx on personas (user_id) where is_public;

create table friendships (
    id            bigint generated always as identity primary key,
    requester_id  bigint not null references users (id) on delete cascade,
    addressee_id  bigint not null references users (id) on delete cascade,
    status        text not null default 'pending' check (status in ('pending', 'accepted', 'rejected')),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    check (requester_id <> addressee_id)
);
-- One row per pair whichever way it was asked, so A->B and B->A cannot both be pending, and a
-- re-request after a rejection reuses (updates) the row instead of hitting a unique error.
create unique index friendships_pair_key on friendships (least(requester_id, addressee_id), greatest(requester_id, addressee_id));
create index friendships_addressee_idx on friendships (addressee_id, status);
create index friendships_requester_idx on friendships (requester_id, status);

create table subscriptions (
    id            bigint generated always as identity primary key,
    user_id       bigint not null references users (id) on delete cascade,
    plan          text not null default 'free' check (plan in ('free', 'premium')),
    status        text not null default 'active' check (status in ('active', 'cancelled', 'expired')),
    started_at    timestamptz not null default now(),
    expires_at    timestamptz,
    cancelled_at  timestamptz,
    -- Room for a payment provider: who charged it and their reference. Null for the mock upgrade.
    payment_provider  text,
    payment_reference text,
    created_at    timestamptz not null default now(),
    constraint subscriptions_user_id_key unique (user_id)
);

-- Own-persona chat messages per user per UTC day (the free plan allows 5).
create table chat_usage (
    user_id     bigint not null references users (id) on delete cascade,
    usage_date  date not null,
    messages    integer not null default 0,
    primary key (user_id, usage_date)
);
