//! The Go library behaviours Vulcand's API answers depend on, reproduced for
//! the contract server: `encoding/json` syntax errors and output escaping,
//! `time.ParseDuration`, `net/url.ParseRequestURI`, and which route
//! expressions `vulcand/route` accepts.

mod json;
mod parse;

pub use json::{json_syntax_error, kind, marshal};
pub use parse::{parse_duration, parse_request_uri, valid_route};
