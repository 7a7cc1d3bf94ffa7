-- Accounts, their server-side sessions and their one-time e-mail tokens.

create table users (
    id              bigint generated always as identity primary key,
    email           text not null,
    username        text not null,
    password_hash   text not null,
    profile_image   text,
    rag_context_level text check (rag_context_level in ('minimal', 'standard', 'detailed')),
    is_active       boolean not null default true,
    email_verified  boolean not null default false,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);

-- E-mail addresses compare case-insensitively; the index name is what the API maps to
-- "Email already registered".
create unique index users_email_key on users (lower(email));
create unique index users_username_key on users (username);

-- A session is what a JWT names: logout and password reset revoke it.
create table sessions (
    id          text primary key,
    user_id     bigint not null references users (id) on delete cascade,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    revoked_at  timestamptz
);
create index sessions_user_id_idx on sessions (user_id) where revoked_at is null;

-- Verification and password-reset tokens. Only a SHA-256 of the token is stored, so a database
-- leak does not hand out working links.
create table email_tokens (
    token_hash  text primary key,
    user_id     bigint not null references users (id) on delete cascade,
    purpose     text not null check (purpose in ('verify', 'reset')),
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    used_at     timestamptz
);
create index email_tokens_user_purpose_idx on email_tokens (user_id, purpose, created_at desc);
