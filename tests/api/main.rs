//! Integration tests: the real server on port 0 with its own temporary database
//! (SQLite, or PostgreSQL when CAUSERIE_TEST_POSTGRES_URL is set).

mod helpers;

mod attachments;
mod auth;
mod bad_inputs;
mod hardening;
mod members;
mod messages;
mod ops;
mod permissions;
mod rooms;
mod stream;
mod stream_paths;
