//! The `tracing` feature: a span per task (its id and name), `queued`/`completed` events per
//! IO call (its ops by the op table's names, its error, its latency), a `pass` event per scheduler pass.
//! Run with `cargo test --features tracing --test coro_tracing` (on both backends).

#![cfg(all(feature = "tracing", not(target_os = "wasi")))]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corio::aio::op::{Nop, Timeout};
use corio::coro::{Scheduler, SpawnOptions, sleep};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records every span's fields and every event (with the span it happened in) as text.
#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<Vec<String>>>,
    events: Arc<Mutex<Vec<String>>>,
    current: Arc<Mutex<Vec<u64>>>,
}

struct Text<'a>(&'a mut String);

impl Visit for Text<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        write!(self.0, " {}={:?}", field.name(), value).unwrap();
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut text = span.metadata().name().to_string();
        span.record(&mut Text(&mut text));
        let mut spans = self.spans.lock().unwrap();
        spans.push(text);
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut text = String::new();
        event.record(&mut Text(&mut text));
        let span = self.current.lock().unwrap().last().copied();
        let within = span.map(|id| self.spans.lock().unwrap()[id as usize - 1].clone());
        self.events.lock().unwrap().push(format!("{}{text} in {within:?}", event.metadata().target()));
    }
    fn enter(&self, span: &Id) {
        self.current.lock().unwrap().push(span.into_u64());
    }
    fn exit(&self, _: &Id) {
        self.current.lock().unwrap().pop();
    }
}

#[test]
fn tasks_io_calls_and_passes_are_traced() {
    let recorder = Recorder::default();
    let events = recorder.events.clone();
    let spans = recorder.spans.clone();
    tracing::subscriber::with_default(recorder, || {
        let scheduler = Scheduler::new().unwrap();
        let task = scheduler.spawn_with(SpawnOptions::new().name("napper"), || {
            corio::coro::io::multi((Nop::new(), Timeout::new(Duration::from_millis(1)))).unwrap();
            sleep(Duration::from_secs(60))
        });
        // One pass waits for both ops of the batch and runs the task into its long sleep.
        scheduler.tick(corio::aio::Mode::Blocking).unwrap();
        task.cancel_and_join().unwrap_err();
    });
    let spans = spans.lock().unwrap();
    assert!(spans.iter().any(|s| s.starts_with("task id=") && s.ends_with("name=\"napper\"")), "{spans:?}");
    let events = events.lock().unwrap();
    let io: Vec<&String> = events.iter().filter(|e| e.starts_with("corio::io")).collect();
    assert_eq!(io.len(), 4, "{events:#?}");
    // The kind is the op table's names of the call's ops.
    assert!(io[0].contains("ops=2 kind=nop+timeout") && io[0].contains("queued"), "{}", io[0]);
    assert!(io[2].contains("ops=1 kind=timeout") && io[2].contains("queued"), "{}", io[2]);
    assert!(io[1].contains("completed") && io[1].contains("latency_us=") && !io[1].contains("error"), "{}", io[1]);
    assert!(io[3].contains("completed") && io[3].contains("error=operation canceled"), "{}", io[3]);
    assert!(
        io.iter().all(|e| e.contains("in Some(\"task id=") && e.contains("napper")),
        "events in the task's span: {io:#?}"
    );
    assert!(events.iter().any(|e| e.starts_with("corio::scheduler") && e.contains("completed=2")), "{events:#?}");
}
