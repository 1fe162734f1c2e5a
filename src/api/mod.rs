//! HTTP handlers, one file per resource: each extracts its input, calls one use case of
//! `crate::chat`, and responds. All routes are in [`routes::configure`].

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod extract;
pub mod members;
pub mod messages;
pub mod openapi;
pub mod ops;
pub mod respond;
pub mod rooms;
pub mod routes;
pub mod search;
pub mod stream;
pub mod web_client;

pub use extract::{Json, OptionalJson, Query};
pub use respond::{created, no_content, ok};
pub use routes::configure;
