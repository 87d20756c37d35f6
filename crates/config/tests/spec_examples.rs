//! Every configuration example of the VPN availability guide (docs/spec), extracted from the
//! text: each parses, validates with exactly the findings listed below, renders, and
//! re-parses to an equal model.
//!
//! Two kinds of example are extracted: configuration listings (lines that start with a
//! configuration command, up to a blank line, exec output or prose), and the "Example:" steps
//! of each task (`Router(config)# ...` prompts, whose commands the guide wraps over lines).
//! Page headers and footers that the text conversion left inside listings are removed first.

use std::collections::BTreeSet;

use config::{Code, Severity};

const SPEC: &str = include_str!("../../../docs/spec/vpn-availability-config-guide.txt");

#[derive(Debug)]
struct Example {
    line: usize,
    text: String,
}

/// Section titles (from the "• Title, page N" lists) and running heads: page furniture.
fn furniture(spec: &str) -> BTreeSet<String> {
    let mut titles = BTreeSet::new();
    for line in spec.lines() {
        if let Some(rest) = line.trim().strip_prefix('•') {
            if let Some((title, _)) = rest.rsplit_once(", ") {
                if rest.trim_end().contains("page") {
                    titles.insert(title.trim().to_string());
                }
            }
        }
    }
    for t in [
        "Reverse Route Injection",
        "IPsec Preferred Peer",
        "Real-Time Resolution for IPsec Tunnel Peer",
        "VPN Availability Configuration Guide Cisco IOS Release 12.2SX",
        "Configuring RRI with Enhancements Added in Cisco IOS Release 12.4(15)T Examples",
        "Configuring RRI for One Route to the Remote Proxy via a User-Defined Next Hop Example",
    ] {
        titles.insert(t.to_string());
    }
    titles
}

fn is_furniture(line: &str, titles: &BTreeSet<String>) -> bool {
    let t = line.trim();
    // Page numbers stand alone with padding; a wrapped command's last word ("20") has none.
    let padded = line.len() != t.len();
    titles.contains(t) || (padded && !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
}

const STARTS: &[&str] = &[
    "crypto ",
    "interface ",
    "Interface ",
    "access-list ",
    "ip route ",
    "router ",
    "route-map ",
    "hostname ",
    "reverse-route",
    "! Configure",
];

fn listings(lines: &[&str]) -> Vec<Example> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let starts = STARTS.iter().any(|s| lines[i].starts_with(s));
        let after_break = i == 0 || lines[i - 1].trim().is_empty();
        let glossary = lines[i].contains(" --");
        if !(starts && after_break) || glossary {
            i += 1;
            continue;
        }
        let first = i;
        let mut text = String::new();
        while i < lines.len() {
            let l = lines[i];
            if l.starts_with("Router#") || l.starts_with("! DNS server configuration") {
                break;
            }
            if l.trim().is_empty() {
                // A page break inside a listing: the listing goes on with indented lines.
                let next = lines[i + 1..].iter().position(|n| !n.trim().is_empty());
                match next.map(|n| lines[i + 1 + n]) {
                    Some(n) if n.starts_with(' ') && !text.is_empty() => {
                        i += 1;
                        continue;
                    }
                    _ => break,
                }
            }
            if l.starts_with("! Configure") && !text.is_empty() {
                // Two routers in one listing: each is its own configuration.
                out.push(Example {
                    line: first + 1,
                    text: std::mem::take(&mut text),
                });
            }
            text.push_str(l);
            text.push('\n');
            i += 1;
        }
        if text.starts_with("reverse-route") {
            // A crypto map sub-command quoted alone: read it inside a crypto map entry.
            text = format!("crypto map example 1 ipsec-isakmp\n {text}");
        }
        out.push(Example {
            line: first + 1,
            text,
        });
    }
    out
}

fn prompt_examples(lines: &[&str]) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut current: Option<Example> = None;
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let Some((prompt, rest)) = l.split_once('#').filter(|(p, _)| p.starts_with("Router"))
        else {
            i += 1;
            continue;
        };
        // The command may continue on following lines until a blank line.
        let mut command = rest.trim().to_string();
        i += 1;
        while i < lines.len() && !lines[i].trim().is_empty() {
            let part = lines[i].trim();
            if command.ends_with('-') || command.is_empty() {
                command.push_str(part);
            } else {
                command.push(' ');
                command.push_str(part);
            }
            i += 1;
        }
        if command == "configure terminal" {
            if let Some(done) = current.take() {
                out.push(done);
            }
            current = Some(Example {
                line: i,
                text: String::new(),
            });
            continue;
        }
        let Some(ex) = current.as_mut() else { continue };
        if prompt.contains("(config)") {
            ex.text.push_str(&command);
        } else if prompt.contains("(config-") {
            ex.text.push(' ');
            ex.text.push_str(&command);
        } else {
            continue; // exec commands: enable, show, debug
        }
        ex.text.push('\n');
    }
    out.extend(current);
    out.retain(|e| !e.text.is_empty());
    out
}

fn examples() -> Vec<Example> {
    let titles = furniture(SPEC);
    let lines: Vec<&str> = SPEC.lines().filter(|l| !is_furniture(l, &titles)).collect();
    let mut all = listings(&lines);
    all.extend(prompt_examples(&lines));
    all
}

use Code::*;

/// What each example yields, keyed by its first command. Findings that come from the guide
/// itself: fragments that name objects defined elsewhere (Undefined), its legacy 3DES/SHA
/// transform sets (Undefined, with a note), its typos (NonCanonicalSpelling), omitted values
/// (MissingValueAssumed), and literal "..." placeholders (errors: there is nothing to parse).
fn expected(first: &str) -> Vec<(Severity, Code)> {
    use Severity::{Error as E, Warning as W};
    let mut v = match first {
        // RRI with crypto ACLs (before 12.3(14)T).
        "crypto map mymap 1 ipsec-isakmp|set peer 10.1.1.1" => vec![(E, Undefined)],
        "ip route 10.1.1.1 255.255.255.255 192.168.1.1" => vec![],
        "ip route 10.1.1.1 255.255.255.255 vlan0.1" => vec![(E, Undefined)],
        "crypto map example 1 ipsec-isakmp|reverse-route remote-peer" => {
            vec![(W, Legacy), (W, Inconsistent), (W, Inconsistent)]
        }
        "crypto map example 1 ipsec-isakmp|reverse-route remote-peer 10.4.4.4" => {
            vec![(W, Inconsistent), (W, Inconsistent)]
        }
        "crypto map mymap 1 ipsec-isakmp|set peer 172.17.11.1" => vec![(E, Undefined)],
        "crypto dynamic-map ospf-clients 1|reverse-route tag 5" => {
            vec![(W, Legacy), (W, NonCanonicalSpelling)]
        }
        "crypto dynamic-map ospf-clients 1|set reverse-route tag 5" => {
            vec![(W, NonCanonicalSpelling), (W, Inconsistent)]
        }
        "crypto dynamic-map mymap|set security-association lifetime seconds 300" => {
            vec![(W, MissingValueAssumed), (E, Undefined), (E, Undefined)]
        }
        "crypto ipsec client ezvpn ez|connect auto" => vec![],
        "crypto isakmp profile profile1|keyring mykeyring" => {
            vec![(E, Undefined), (E, Undefined), (W, MissingValueAssumed)]
        }
        "crypto map tohub 1 ipsec-isakmp|set peer 10.1.1.1 default" => vec![(W, Inconsistent)],
        "! Configure the initiating router.|hostname a.cisco.com" => vec![
            (W, NonCanonicalSpelling),
            (W, MissingValueAssumed),
            (E, UnexpectedToken),
            (E, Undefined),
            (E, Undefined),
        ],
        "! Configure the responding router (the remote IPSec peer).|hostname b.cisco.com" => vec![
            (E, Incomplete),
            (W, MissingValueAssumed),
            (E, UnexpectedToken),
            (E, Undefined),
        ],
        // The task steps.
        "crypto map mymap 1 ipsec-isakmp|reverse-route remote peer 10.1.1.1" => {
            vec![
                (W, NonCanonicalSpelling),
                (W, Inconsistent),
                (W, Inconsistent),
            ]
        }
        "crypto dynamic-map mymap 1|reverse-route remote peer 10.1.1.1" => {
            vec![(W, NonCanonicalSpelling)]
        }
        "crypto map mymap 1 ipsec-isakmp|reverse-route" => {
            vec![(W, Inconsistent), (W, Inconsistent)]
        }
        "crypto dynamic-map mymap 1|reverse-route remote peer 10.1.1.1 gateway" => {
            vec![(W, NonCanonicalSpelling)]
        }
        "crypto ipsec profile myprofile|set reverse-route distance 20" => vec![],
        "crypto map mymap 10 ipsec-isakmp|set peer 10.0.0.2 default" => vec![(W, Inconsistent)],
        "crypto map mymap 10 ipsec-isakmp|set security-association idletime 120 default" => {
            vec![(W, Inconsistent), (W, Inconsistent), (W, DefaultPeer)]
        }
        "crypto map secure_b 10 ipsec-isakmp|match address 140" => {
            vec![(E, Undefined), (W, Inconsistent), (E, Undefined)]
        }
        other => panic!("an example nobody expected: {other:?}"),
    };
    v.sort();
    v
}

fn key(text: &str) -> String {
    let cmds: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(2)
        .collect();
    if cmds.len() == 1 || !cmds[0].starts_with(['c', '!']) {
        return cmds[0].to_string();
    }
    cmds.join("|")
}

#[test]
fn every_spec_example_parses_validates_renders_and_reparses() {
    let examples = examples();
    let mut seen = BTreeSet::new();
    let mut mismatches = String::new();
    for ex in &examples {
        let k = key(&ex.text);
        let checked = config::check(&ex.text);
        let mut got: Vec<(Severity, Code)> = checked
            .diagnostics
            .0
            .iter()
            .map(|d| (d.severity, d.code))
            .collect();
        got.sort();
        if got != expected(&k) {
            mismatches += &format!(
                "example at spec line {} ({k:?}):\n{}\n{}got {got:?}\n\n",
                ex.line,
                ex.text,
                checked.diagnostics.render("example", &ex.text)
            );
        }
        let rendered = config::render(&checked.config);
        let again = config::parse(&rendered);
        assert!(
            again
                .diagnostics
                .iter()
                .all(|d| d.severity == Severity::Warning),
            "rendering of the example at line {} does not parse:\n{rendered}\n{:?}",
            ex.line,
            again.diagnostics
        );
        assert_eq!(
            again.config, checked.config,
            "round trip of the example at line {}:\n{rendered}",
            ex.line
        );
        seen.insert(k);
    }
    assert!(mismatches.is_empty(), "{mismatches}");
    // 16 listings (the real-time resolution one holds two routers) and 8 task step groups;
    // the guide shows the Easy VPN client and the tohub map twice each.
    assert_eq!(
        examples.len(),
        24,
        "{:#?}",
        examples.iter().map(|e| key(&e.text)).collect::<Vec<_>>()
    );
    assert_eq!(seen.len(), 22, "{seen:#?}");
}
