//! Domain logic: what depot does, independent of HTTP. Pure parts (type
//! inference, file names, RPM headers and their digests, list queries) have
//! no I/O at all.

pub mod admission;
pub mod audit;
pub mod classify;
pub mod credentials;
pub mod doctor;
pub mod downloads;
pub mod filename;
pub mod gc;
pub mod liveness;
mod logins;
pub mod obshell_auth;
pub mod packages;
pub mod passwords;
pub mod patches;
pub mod preload;
pub mod query;
pub mod regions;
pub mod repos;
pub mod rpm_header;
pub mod rpm_integrity;
pub mod rpm_payload;
pub mod sessions;
pub mod throttle;
pub mod tokens;
pub mod upgrade;
pub mod upgrade_plan;
pub mod upgrade_route;
pub mod uploads;
pub mod users;
pub mod window;
