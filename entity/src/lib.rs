//! Database entities (sea-orm models), one module per table.

pub mod blob;
pub mod package;
pub mod upgrade_package;
pub mod user;
