//! `debug crypto ipsec`: the control thread's events (`rri::*` tracing targets: IKE, SA
//! installation, RRI, peers) streamed to every rrictl that asked, while it stays connected.
//!
//! The hub is touched only by the control thread (events are emitted there) and by the
//! management threads when a client subscribes; with no subscriber an event costs one
//! atomic load. Workers never log.

use exec::protocol::Reply;
use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

static SUBSCRIBERS: Mutex<Vec<Sender<Reply>>> = Mutex::new(Vec::new());
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Adds a subscriber; it is dropped at the first event it cannot take.
pub fn subscribe(tx: Sender<Reply>) {
    let mut subs = SUBSCRIBERS.lock().unwrap_or_else(|e| e.into_inner());
    subs.push(tx);
    COUNT.store(subs.len(), Ordering::Relaxed);
}

/// Drops every subscriber (at shutdown), which ends their streams.
pub fn close_all() {
    let mut subs = SUBSCRIBERS.lock().unwrap_or_else(|e| e.into_inner());
    subs.clear();
    COUNT.store(0, Ordering::Relaxed);
}

fn publish(line: String) {
    let mut subs = SUBSCRIBERS.lock().unwrap_or_else(|e| e.into_inner());
    subs.retain(|tx| tx.send(Reply::Output(line.clone())).is_ok());
    COUNT.store(subs.len(), Ordering::Relaxed);
}

/// The tracing layer that feeds the hub.
#[derive(Debug, Default)]
pub struct DebugLayer;

struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else if field.name() != "event" {
            // `event` repeats the message as a structure.
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for DebugLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if COUNT.load(Ordering::Relaxed) == 0 {
            return;
        }
        let target = event.metadata().target();
        if !target.starts_with("rri") {
            return;
        }
        let mut f = Fields {
            message: String::new(),
            rest: String::new(),
        };
        event.record(&mut f);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let secs = now.as_secs() % 86_400;
        let label = match target {
            "rri::ipsec" | "rri::sa" => "IPSEC",
            "rri::ike" => "IKEv2",
            "rri::peer" => "PEER",
            "rri::config" => "CONFIG",
            "rrid" => "RRID",
            _ => "RRI",
        };
        publish(format!(
            "*{:02}:{:02}:{:02}.{:03}: {label}: {}{}\n",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            now.subsec_millis(),
            f.message,
            f.rest
        ));
    }
}
