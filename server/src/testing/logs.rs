//! Log capture for tracing output (`ExUnit.CaptureLog`).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Collects log events as lines `[level] message key=value …`. Cheap to clone; clones share
/// the buffer.
#[derive(Clone, Default)]
pub struct LogCapture {
    buf: Arc<Mutex<String>>,
}

impl LogCapture {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// A dispatcher that records into this capture (and prints to the test output when
    /// `RUST_LOG` is set).
    pub fn dispatch(&self) -> Dispatch {
        let fmt = std::env::var_os("RUST_LOG").map(|_| {
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(tracing_subscriber::EnvFilter::from_default_env())
        });
        Dispatch::new(tracing_subscriber::registry().with(self.clone()).with(fmt))
    }

    /// Everything captured so far.
    pub fn contents(&self) -> String {
        self.buf.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// True when some captured line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.buf.lock().map(|b| b.contains(needle)).unwrap_or(false)
    }

    /// Forgets what was captured.
    pub fn clear(&self) {
        if let Ok(mut b) = self.buf.lock() {
            b.clear();
        }
    }
}

/// Runs `f` with a capturing subscriber on this thread and returns what it logged.
pub fn capture_log(f: impl FnOnce()) -> String {
    let capture = LogCapture::new();
    tracing::dispatcher::with_default(&capture.dispatch(), f);
    capture.contents()
}

struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

impl<S: Subscriber> Layer<S> for LogCapture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = Line {
            message: String::new(),
            fields: String::new(),
        };
        event.record(&mut line);
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        if let Ok(mut b) = self.buf.lock() {
            let _ = writeln!(b, "[{level}] {}{}", line.message, line.fields);
        }
    }
}
