//! havok: watches Docker and keeps every matching container routed in Vulcand.
//!
//! # Layout
//! - `cli`: the raw flags, both spellings of the original's.
//! - `config`: figment merge of defaults < file < `HAVOK_*` < flags into one validated `Config`.
//! - `model`: pure: container → routes and servers; the route table.
//! - `vulcand`: Vulcand's layout: ids, keys, JSON values.
//! - `sink`: the `RouteSink` trait every backend implements.
//! - `backends` (in `backends/`): one `RouteSink` per Cargo feature, and `build()`.

pub mod cli;
pub mod config;
pub mod model;
pub mod sink;
pub mod vulcand;

#[path = "../backends/mod.rs"]
pub mod backends;
