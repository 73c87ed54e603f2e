//! `fastgate` as a library: the S3 gateway (s3s handlers over the storage model), its
//! configuration, admin endpoints and background tasks, with [`server`] to run it on a
//! listener of the caller's choosing.
//!
//! The `fastgate` binary (`main.rs`) is only its command line, with the admin client
//! (`admin_cli.rs`, which talks to a server over HTTP like any client). Being a library
//! lets tests start a server inside the test process (`tests/it/in_process.rs`) where no
//! process boundary is under test; the process tests in `tests/` remain for kill, restart
//! and real clients.

mod admin;
mod auth;
pub mod config;
mod connection;
mod console;
mod housekeeping;
mod metrics;
mod s3;
pub mod server;
pub mod tls;
mod user_admin;
