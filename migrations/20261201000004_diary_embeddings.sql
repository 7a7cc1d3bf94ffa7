-- One embedding per diary that may reach an LLM (never a `private` one), for retrieval: the
-- model and dimension it was made with and a hash of the text it was made from (the worker
-- re-embeds when any of them differs from the current setting or text), the vector itself
-- (`dim` float4s, little-endian) and its signs as bits, the cheap first pass of a search
-- (Hamming distance with bit_count) before an exact re-rank.
create table diary_embeddings (
    diary_id    bigint primary key references diaries (id) on delete cascade,
    user_id     bigint not null references users (id) on delete cascade,
    model       text not null,
    dim         integer not null,
    text_hash   text not null,
    vector      bytea not null,
    bits        bit varying not null,
    embedded_at timestamptz not null default now()
);
create index diary_embeddings_user_idx on diary_embeddings (user_id);
