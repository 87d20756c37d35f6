//! `show crypto peer`: per entry, the peers in order, which is default and current, what
//! their names resolved to and when, the last failure and why, and counters.

use crate::entry::{EntryPeers, Phase, NS_PER_S};
use std::fmt::Write;

fn ago(now_ns: u64, at_ns: u64) -> String {
    let s = now_ns.saturating_sub(at_ns) as f64 / NS_PER_S as f64;
    format!("{s:.1} s ago")
}

/// Renders one entry at `now_ns`.
pub fn render_entry(out: &mut String, entry: &EntryPeers, now_ns: u64) {
    let _ = writeln!(out, "Crypto map entry {}:", entry.label());
    let state = match entry.phase() {
        Phase::Idle => "idle".to_string(),
        Phase::Waiting { until_ns } => format!(
            "waiting {} ms before the next attempt",
            until_ns.saturating_sub(now_ns) / 1_000_000
        ),
        Phase::Resolving { .. } => "resolving the current peer".to_string(),
        Phase::Connecting { addr, .. } => format!("connecting to {addr}"),
        Phase::Up { addr, since_ns, .. } => {
            format!("up with {addr} since {}", ago(now_ns, since_ns))
        }
    };
    let _ = writeln!(out, "  State: {state}");
    if let Some(idle) = entry.settings().idle {
        let _ = writeln!(
            out,
            "  Idle time: {} s{}",
            idle.seconds,
            if idle.to_default {
                ", then the default peer"
            } else {
                ""
            }
        );
    }
    let dampening = entry.settings().dampening;
    for (i, p) in entry.peers().iter().enumerate() {
        let mut flags = Vec::new();
        if p.spec.default {
            flags.push("default");
        }
        if i == entry.current() {
            flags.push("current");
        }
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" ({})", flags.join(", "))
        };
        let _ = writeln!(out, "  Peer {}: {}{flags}", i + 1, p.spec.name);
        if let Some(a) = &p.answer {
            let addrs: Vec<String> = a.addrs.iter().map(|x| x.to_string()).collect();
            let ttl = if now_ns < a.valid_until_ns {
                format!("TTL {} s left", (a.valid_until_ns - now_ns) / NS_PER_S)
            } else {
                "TTL expired".to_string()
            };
            let _ = writeln!(
                out,
                "    Resolved: {} ({}, {ttl}{})",
                addrs.join(", "),
                ago(now_ns, a.resolved_ns),
                if a.secure { ", DNSSEC secure" } else { "" }
            );
        }
        if let Some((at, why)) = &p.last_failure {
            let _ = writeln!(out, "    Last failure: {why} ({})", ago(now_ns, *at));
        }
        let c = &p.counters;
        let _ = writeln!(
            out,
            "    Attempts {}, up {}, timeouts {}, auth failures {}, DNS failures {}, dead {}, idle {}",
            c.attempts, c.ups, c.timeouts, c.auth_failures, c.dns_failures, c.dead, c.idle
        );
        let penalty = p.penalty(dampening.as_ref(), now_ns);
        if dampening.is_some() && (penalty >= 1.0 || c.suppressed_skips > 0) {
            let _ = writeln!(
                out,
                "    Flap penalty {penalty:.0}, skipped while suppressed {}",
                c.suppressed_skips
            );
        }
    }
    if let Some((at, what)) = entry.last_decision() {
        let _ = writeln!(out, "  Last decision: {what} ({})", ago(now_ns, *at));
    }
}
