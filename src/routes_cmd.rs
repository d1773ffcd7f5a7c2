//! `havok routes`: lists the running containers once and prints the route
//! table they make (a table, or JSON with `--json`). Writes nothing.

use std::io::Write;

use crate::config::Config;
use crate::model::{route_container, RouteTable, Verdict};

/// Why `havok routes` failed (Docker unreachable is not retried here: it is one-shot).
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
    /// Without `--node-id`, server ids need the node name `docker info` gives.
    #[error("{0}: pass --node-id")]
    NodeName(String),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// The node name `docker info` gave (`Ok(None)`: it gave none), when
/// `--node-id` is not set. Server ids are made from it, so without one the
/// table would show ids no running havok writes: an error, not a guess.
fn node_of(info: Result<Option<String>, String>) -> Result<String, RoutesError> {
    match info {
        Ok(Some(name)) if !name.is_empty() => Ok(name),
        Ok(_) => Err(RoutesError::NodeName("Docker reported no host name".into())),
        Err(reason) => Err(RoutesError::NodeName(format!(
            "cannot ask Docker for this node's name (docker info: {reason})"
        ))),
    }
}

pub async fn print_routes(config: &Config, json: bool) -> Result<(), RoutesError> {
    let watcher = crate::watcher(config);
    let docker = watcher.connect().await?;
    let node = match &config.node_id {
        Some(node) => node.clone(),
        None => node_of(
            docker
                .info()
                .await
                .map(|i| i.name)
                .map_err(|e| e.to_string()),
        )?,
    };
    let containers = watcher.list(&docker).await?;
    let mut routed = Vec::new();
    for c in &containers {
        match route_container(c, &config.rules, &node) {
            Verdict::Routed(list) => routed.extend(list),
            Verdict::RoutedWithWarning(list, why) => {
                eprintln!("havok: {} is routed, with a warning: {why}", c.name);
                routed.extend(list);
            }
            Verdict::Refused(why) => eprintln!("havok: {} is not routed: {why}", c.name),
            Verdict::Ignored(_) => {}
        }
    }
    let table = RouteTable::build(&routed);
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &table).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    let rows: Vec<[String; 4]> = table
        .routes
        .values()
        .flat_map(|entry| {
            entry.servers.values().map(|s| {
                [
                    entry.spec.key.to_string(),
                    s.url.clone(),
                    s.container.clone(),
                    s.id.to_string(),
                ]
            })
        })
        .collect();
    let header = ["ROUTE", "URL", "CONTAINER", "SERVER ID"].map(String::from);
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        writeln!(
            out,
            "{:w0$}  {:w1$}  {:w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row: what `docker info` gave, and the node name or the error.
    #[test]
    fn node_names() {
        type Info = Result<Option<String>, String>;
        let cases: [(Info, Result<&str, &str>); 4] = [
            (Ok(Some("host-1".into())), Ok("host-1")),
            (Ok(None), Err("Docker reported no host name: pass --node-id")),
            (Ok(Some(String::new())), Err("Docker reported no host name: pass --node-id")),
            (
                Err("connection refused".into()),
                Err("cannot ask Docker for this node's name (docker info: connection refused): pass --node-id"),
            ),
        ];
        for (info, want) in cases {
            let got = node_of(info.clone()).map_err(|e| e.to_string());
            assert_eq!(
                got.as_deref(),
                want.map_err(String::from).as_deref(),
                "{info:?}"
            );
        }
    }
}
