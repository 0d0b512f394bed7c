//! What a command tells its user, in one of two forms: lines for people (stderr for
//! progress and notes, stdout for the command's result — as before), or with
//! `--json-events` one JSON object per line on stdout for scripts and CI, every object
//! with the same keys (the schema is in README.rst, "Machine-readable events"):
//!
//! `time` (RFC 3339, UTC, milliseconds), `event`, `cluster`, `resource`, `node`, `status`,
//! `duration` (seconds since the command started), `error`, `message` — `null` when a key
//! does not apply.
//!
//! Never draws progress bars (`progress` does, on stderr, only on a terminal) and never
//! writes anything but whole lines, so the stream stays parseable whatever else runs.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

/// How a command reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReportMode {
    /// Nothing at all (library use, tests).
    #[default]
    Silent,
    /// Lines for people (the default of the command line).
    Text,
    /// `--json-events`: JSON objects on stdout.
    Json,
}

/// One event as it is written (the stable schema).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Event {
    pub time: String,
    pub event: String,
    pub cluster: Option<String>,
    pub resource: Option<String>,
    pub node: Option<String>,
    pub status: String,
    pub duration: Option<f64>,
    pub error: Option<String>,
    pub message: Option<String>,
}

/// Also given every event, whatever the mode (benchmarks and tests timing the phases).
#[derive(Clone)]
pub struct EventSink(Arc<dyn Fn(&Event) + Send + Sync>);

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSink")
    }
}

/// The reporter of one command (cheap to clone; clones share the start time).
#[derive(Clone, Debug)]
pub struct Reporter {
    mode: ReportMode,
    cluster: Option<String>,
    started: Arc<Instant>,
    sink: Option<EventSink>,
}

impl Default for Reporter {
    fn default() -> Self {
        Reporter::new(ReportMode::Silent)
    }
}

impl Reporter {
    pub fn new(mode: ReportMode) -> Self {
        Reporter {
            mode,
            cluster: None,
            started: Arc::new(Instant::now()),
            sink: None,
        }
    }

    /// The same reporter, every event also given to `sink` (as it would be written in JSON
    /// mode, in any mode).
    pub fn with_sink(self, sink: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        Reporter {
            sink: Some(EventSink(Arc::new(sink))),
            ..self
        }
    }

    /// The same reporter, its events naming `cluster`.
    pub fn for_cluster(&self, cluster: &str) -> Self {
        Reporter {
            cluster: Some(cluster.to_string()),
            ..self.clone()
        }
    }

    pub fn mode(&self) -> ReportMode {
        self.mode
    }

    /// Whether events go to stdout as JSON (then nothing else may write there).
    pub fn is_json(&self) -> bool {
        self.mode == ReportMode::Json
    }

    /// Seconds since the command started.
    pub fn elapsed(&self) -> f64 {
        (self.started.elapsed().as_millis() as f64) / 1000.0
    }

    /// A note for people (text: a line on stderr; JSON: a `message` event).
    pub fn say(&self, line: &str) {
        self.line(line, "info", false);
    }

    /// A warning (text: `warning: …` on stderr; JSON: a `message` event, status `warning`).
    pub fn warn(&self, line: &str) {
        self.line(line, "warning", false);
    }

    /// The command's result for people (text: stdout; JSON: a `message` event, status
    /// `output`, one per line).
    pub fn print(&self, text: &str) {
        self.line(text, "output", true);
    }

    fn line(&self, text: &str, status: &str, to_stdout: bool) {
        match self.mode {
            ReportMode::Silent => {}
            ReportMode::Text if to_stdout => println!("{text}"),
            ReportMode::Text if status == "warning" => eprintln!("warning: {text}"),
            ReportMode::Text => eprintln!("{text}"),
            ReportMode::Json => {
                for l in text.lines() {
                    self.emit(Event {
                        event: "message".into(),
                        status: status.into(),
                        message: Some(l.to_string()),
                        ..Event::default()
                    });
                }
            }
        }
    }

    /// An event: written in JSON mode only (`time`, `cluster` and `duration` are filled in
    /// when empty).
    pub fn event(&self, e: Event) {
        if self.mode == ReportMode::Json || self.sink.is_some() {
            self.emit(e);
        }
    }

    /// Shorthand: `event` about a `resource` with `status`.
    pub fn resource(&self, event: &str, resource: &str, status: &str, error: Option<&str>) {
        self.event(Event {
            event: event.into(),
            resource: Some(resource.into()),
            status: status.into(),
            error: error.map(str::to_string),
            ..Event::default()
        });
    }

    /// Shorthand: `event` about a `node` with `status`.
    pub fn node(&self, event: &str, node: &str, status: &str, error: Option<&str>) {
        self.event(Event {
            event: event.into(),
            node: Some(node.into()),
            status: status.into(),
            error: error.map(str::to_string),
            ..Event::default()
        });
    }

    /// Shorthand: the command's phase `event` reached `status`.
    pub fn phase(&self, event: &str, status: &str, error: Option<&str>) {
        self.event(Event {
            event: event.into(),
            status: status.into(),
            error: error.map(str::to_string),
            ..Event::default()
        });
    }

    fn emit(&self, mut e: Event) {
        if e.time.is_empty() {
            e.time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        }
        if e.cluster.is_none() {
            e.cluster = self.cluster.clone();
        }
        if e.duration.is_none() {
            e.duration = Some(self.elapsed());
        }
        if let Some(sink) = &self.sink {
            (sink.0)(&e);
        }
        if self.mode != ReportMode::Json {
            return;
        }
        if let Ok(line) = serde_json::to_string(&e) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_has_every_key() {
        let e = Event {
            time: "t".into(),
            event: "node".into(),
            status: "ready".into(),
            ..Event::default()
        };
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "cluster", "duration", "error", "event", "message", "node", "resource", "status",
                "time"
            ]
        );
        assert!(v["error"].is_null());
    }
}
