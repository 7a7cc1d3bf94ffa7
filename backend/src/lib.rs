//! DearMe backend: the HTTP API, the background worker and the migrations, as a library that
//! `main` and the integration tests both drive.
//!
//! Layers, lowest first; a module imports only from its own layer or lower ones (checked by
//! `scripts/lib/layers.py` in `scripts/test`):
//! - `platform`: settings, Postgres, Redis, the cache, HTTP plumbing, errors, metrics, telemetry;
//! - `llm`: the OpenAI-compatible client, the prompts and the development server;
//! - `data`: each resource's typed rows and SQL, shared by the API and the jobs;
//! - `jobs`: the queue's contract (job kinds, states, stream events), the worker, one file a job;
//! - `api`: the HTTP state, the session extractor and one module per resource;
//! - `startup`, `openapi` and `cli`: boot, the served OpenAPI document and the operator commands
//!   (`dearme users ...`); imported by nobody but each other and `main`.

pub mod api;
pub mod cli;
pub mod data;
pub mod jobs;
pub mod llm;
pub mod openapi;
pub mod platform;
pub mod startup;
