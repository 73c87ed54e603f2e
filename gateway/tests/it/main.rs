//! The integration tests of the gateway, as one test binary: every module starts the real
//! `fastgate` binary (see `common`) and drives it as clients do. One binary, because each
//! separate one would link the whole dependency tree again (23 of them took minutes of CI).

mod common;

mod access;
mod aws_chunked;
mod bucket_config;
mod buckets;
mod cluster;
mod console;
mod cors;
mod cp;
mod encryption;
mod gateways;
mod hostile;
mod housekeeping;
mod in_process;
mod instant_upload;
mod listing;
mod meta_engines;
mod multipart;
mod object_lock;
mod objects;
mod pg_engine;
mod post_object;
mod probe;
mod s3_details;
mod tls;
mod users;
mod versioning;
