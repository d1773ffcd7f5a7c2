//! The results of one backend: percentiles, the plain table, the targets
//! met or missed, and one `BENCH_JSON {…}` line for machines.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

/// `later - earlier` in milliseconds, negative when `later` is earlier.
pub fn ms_between(later: SystemTime, earlier: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(d) => d.as_secs_f64() * 1e3,
        Err(e) => -e.duration().as_secs_f64() * 1e3,
    }
}

/// Nearest-rank percentiles: with fewer than 100 values, p99 is the largest.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub n: usize,
}

impl Stats {
    pub fn of(values: &[f64]) -> Stats {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| -> f64 {
            if sorted.is_empty() {
                return f64::NAN;
            }
            let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[i.clamp(1, sorted.len()) - 1]
        };
        Stats {
            p50: rank(50.0),
            p95: rank(95.0),
            p99: rank(99.0),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            n: sorted.len(),
        }
    }
}

enum Cells {
    Dist(Stats),
    One(String),
}

struct Row {
    metric: String,
    cells: Cells,
    unit: &'static str,
}

/// One backend's table, targets and JSON line, filled phase by phase.
pub struct Report {
    title: String,
    rows: Vec<Row>,
    json: Map<String, Value>,
    targets: Vec<(String, bool, String)>,
    notes: Vec<String>,
}

impl Report {
    pub fn new(title: String, head: Value) -> Report {
        let json = match head {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Report {
            title,
            rows: Vec::new(),
            json,
            targets: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A distribution row; returns its percentiles.
    pub fn dist(&mut self, key: &str, metric: &str, unit: &'static str, values: &[f64]) -> Stats {
        let s = Stats::of(values);
        self.json.insert(
            key.into(),
            json!({"p50": round(s.p50), "p95": round(s.p95), "p99": round(s.p99), "max": round(s.max), "n": s.n}),
        );
        self.rows.push(Row {
            metric: metric.into(),
            cells: Cells::Dist(s),
            unit,
        });
        s
    }

    /// A single measured value.
    pub fn value(&mut self, key: &str, metric: &str, unit: &'static str, value: f64) {
        self.json.insert(key.into(), round(value));
        self.rows.push(Row {
            metric: metric.into(),
            cells: Cells::One(number(value)),
            unit,
        });
    }

    /// A count out of a total (`48/50`).
    pub fn count(&mut self, key: &str, metric: &str, count: usize, total: usize) {
        self.json
            .insert(key.into(), json!({"count": count, "of": total}));
        self.rows.push(Row {
            metric: metric.into(),
            cells: Cells::One(format!("{count}/{total}")),
            unit: "count",
        });
    }

    /// One of the targets, met or not, with the figure it was judged on.
    pub fn target(&mut self, what: &str, met: bool, measured: String) {
        self.targets.push((what.into(), met, measured));
    }

    /// A line printed under the table (and kept in the JSON).
    pub fn note(&mut self, text: String) {
        self.notes.push(text);
    }

    pub fn print(&mut self) {
        let width = 50;
        println!();
        println!("{}", self.title);
        println!(
            "{:<width$} {:>9} {:>9} {:>9} {:>9}  unit",
            "metric", "p50", "p95", "p99", "max"
        );
        println!("{}", "-".repeat(width + 46));
        for row in &self.rows {
            match &row.cells {
                Cells::Dist(s) => println!(
                    "{:<width$} {:>9} {:>9} {:>9} {:>9}  {}",
                    row.metric,
                    number(s.p50),
                    number(s.p95),
                    number(s.p99),
                    number(s.max),
                    row.unit
                ),
                // A single figure goes in the first column; the others do not apply.
                Cells::One(v) => println!(
                    "{:<width$} {:>9} {:>9} {:>9} {:>9}  {}",
                    row.metric, v, "-", "-", "-", row.unit
                ),
            }
        }
        if !self.targets.is_empty() {
            println!("targets:");
        }
        for (what, met, measured) in &self.targets {
            let verdict = if *met { "met   " } else { "MISSED" };
            println!("  {verdict} {what}: {measured}");
        }
        for note in &self.notes {
            println!("note: {note}");
        }
        let targets: Map<String, Value> = self
            .targets
            .iter()
            .map(|(what, met, _)| (what.clone(), json!(met)))
            .collect();
        self.json.insert("targets".into(), Value::Object(targets));
        self.json.insert("notes".into(), json!(self.notes));
        println!("BENCH_JSON {}", Value::Object(self.json.clone()));
    }
}

/// Three significant-ish digits: `0.91`, `12.3`, `1520`.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn round(v: f64) -> Value {
    if v.is_nan() {
        Value::Null
    } else {
        json!((v * 1000.0).round() / 1000.0)
    }
}
