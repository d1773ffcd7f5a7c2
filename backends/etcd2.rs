//! Placeholder until the backend lands.
use crate::config::{Config, ConfigError};
use crate::model::RouteKey;
use crate::sink::{Observed, Op, RouteSink, SinkError};
use async_trait::async_trait;
use std::collections::BTreeSet;

pub struct Etcd2Sink;

impl Etcd2Sink {
    pub fn new(_config: &Config, _node: &str) -> Result<Etcd2Sink, ConfigError> {
        Err(ConfigError::Invalid("not implemented yet".into()))
    }
}

#[async_trait]
impl RouteSink for Etcd2Sink {
    fn name(&self) -> &'static str {
        "etcd2"
    }
    fn describe(&self) -> String {
        String::new()
    }
    async fn connect(&mut self) -> Result<(), SinkError> {
        todo!()
    }
    async fn observe(&mut self, _routes: &BTreeSet<RouteKey>) -> Result<Observed, SinkError> {
        todo!()
    }
    async fn apply(&mut self, _ops: &[Op]) -> Result<(), SinkError> {
        todo!()
    }
    async fn keepalive(&mut self) -> Result<(), SinkError> {
        todo!()
    }
    async fn orphans(&mut self) -> Result<Vec<RouteKey>, SinkError> {
        todo!()
    }
}
