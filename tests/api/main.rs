//! Integration tests: the real server over HTTP, on every backend pair.
//! One binary; modules mirror the API.

mod common;

mod architecture;
mod attacks;

mod audit;
mod audit_bounds;
mod audit_honest;
mod auth;
mod auth_replicas;
mod auth_throttle;
mod bombs;
mod cli;
mod client;
mod delete;
mod doctor;
mod download;
mod faults;
mod gc;
mod integrity;
mod list;
mod metrics;
mod openapi;
mod replicas;
mod repos;
mod resumable;
mod tokens;
mod upgrade;
mod upgrade_route;
mod upload;
mod upload_file;
