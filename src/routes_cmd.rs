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
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

pub async fn print_routes(config: &Config, json: bool) -> Result<(), RoutesError> {
    let watcher = crate::watcher(config);
    let docker = watcher.connect().await?;
    let node = match &config.node_id {
        Some(node) => node.clone(),
        None => docker
            .info()
            .await
            .ok()
            .and_then(|i| i.name)
            .unwrap_or_else(|| "unknown".into()),
    };
    let containers = watcher.list(&docker).await?;
    let mut routed = Vec::new();
    for c in &containers {
        match route_container(c, &config.rules, &node) {
            Verdict::Routed(list) => routed.extend(list),
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
