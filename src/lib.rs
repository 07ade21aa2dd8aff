//! depot: a storage-backed package repository gateway speaking the OCP
//! software-package API. Layers, top to bottom: `http` (routes, extractors,
//! the OCP envelope), `domain` (what depot does), `db` and `store` (the
//! metadata database and the object store). `client` is the other side:
//! the `depot push/ls/pull/rm` commands. `api_types` holds the JSON shapes
//! both sides share.

pub mod allocator;
pub mod api_types;
pub mod app;
pub mod cache;
pub mod cli;
pub mod client;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod metrics;
pub mod store;
pub mod telemetry;
