-- LLM spending per user and calendar month (UTC): tokens in and out, and their cost in
-- millionths of a US dollar at the configured price (LLM_USD_PER_MILLION_TOKENS).
create table llm_usage (
    user_id      bigint not null references users (id) on delete cascade,
    period_start date not null,
    tokens       bigint not null default 0,
    cost_micros  bigint not null default 0,
    primary key (user_id, period_start)
);
