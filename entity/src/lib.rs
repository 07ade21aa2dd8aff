//! Database entities (sea-orm models), one module per table.

pub mod api_token;
pub mod audit_event;
pub mod blob;
pub mod console_session;
pub mod lock;
pub mod obshell_key;
pub mod package;
pub mod patch;
pub mod patch_host;
pub mod patch_release;
pub mod patch_rpm;
pub mod region;
pub mod region_blob;
pub mod repo;
pub mod repo_chunk;
pub mod repo_file;
pub mod repo_key;
pub mod repo_package;
pub mod upgrade_package;
pub mod upload;
pub mod upload_part;
pub mod user;
