//! HTTP plumbing shared by every resource: extractors with the contract's 422 shape, field
//! validation, client address, middleware, per-route time limits.

pub mod client_ip;
pub mod extract;
pub mod middleware;
pub mod page;
pub mod path;
pub mod text;
pub mod timeout;
pub mod validate;
