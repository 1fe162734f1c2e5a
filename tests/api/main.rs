//! Integration tests: the real server on port 0 with its own temporary database
//! (SQLite, or PostgreSQL when CAUSERIE_TEST_POSTGRES_URL is set).

mod helpers;
mod sse;

mod attachments;
mod auth;
mod bad_inputs;
mod bounds;
mod budget;
mod catch_up;
mod cluster;
mod hardening;
mod members;
mod mentions;
mod messages;
mod newcomers;
mod ops;
mod permissions;
mod reactions;
mod replay;
mod revocation;
mod rooms;
mod search;
mod stream;
mod stream_paths;
mod transfer;
mod writes;
