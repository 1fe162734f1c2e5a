//! causerie: a self-hosted team chat. REST API, Server-Sent-Events fan-out and a web
//! client in one binary, on SQLite or PostgreSQL.

pub mod api;
pub mod auth;
pub mod broker;
pub mod chat;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod front;
pub mod metrics;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod transfer;
pub mod uploads;
