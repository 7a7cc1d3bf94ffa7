-- The diaries a persona's reply drew on (id, date, title), as the reply job retrieved them: null
-- for users' messages and for replies written before retrieval existed.
alter table chat_messages add column sources jsonb;
