//! Integration tests: the real server over HTTP, on every backend pair.
//! One binary; modules mirror the API.

mod common;

mod announced;
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
mod console;
mod cors;
mod delete;
mod doctor;
mod download;
mod download_clients;
mod faults;
mod full_disk;
mod gc;
mod heap;
mod integrity;
mod leftovers;
mod list;
mod list_keyword;
mod metrics;
mod obshell;
mod openapi;
mod paging;
mod patches;
mod regions;
mod replica_crash;
mod replicas;
mod repos;
mod resumable;
mod store_stalls;
mod tokens;
mod upgrade;
mod upgrade_route;
mod upload;
mod upload_file;
