//! The phases of one backend's run, in the order they run; each measures one
//! thing and writes its rows into the report.

pub mod after_start;
pub mod burst;
pub mod cost;
pub mod idle;
pub mod probe;
pub mod restart;
pub mod sequential;
pub mod soak;
pub mod startup;
pub mod verdict;
pub mod warmup;
