//! Every configuration example of Cisco's VPN availability guide ("VPN Availability
//! Configuration Guide, Cisco IOS Release 12.2SX"), as the guide prints them, one file each
//! in `tests/spec/` (each naming its source): each parses, validates with exactly the
//! findings listed below, renders, and re-parses to an equal model.
//!
//! The files hold the configuration listings of the guide and the commands of each task's
//! "Example:" steps (`Router(config)# ...` prompts, joined where the guide wraps them); a
//! sub-command the guide quotes alone sits in the crypto map entry it belongs to.

use std::collections::BTreeSet;
use std::path::Path;

use config::{Code, Severity};

#[derive(Debug)]
struct Example {
    file: String,
    text: String,
}

/// The examples, in file order, without the lines that name their source.
fn examples() -> Vec<Example> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/spec exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let all = std::fs::read_to_string(&path).expect("an example file");
            let (source, text) = all.split_at(
                all.match_indices('\n')
                    .nth(3)
                    .map_or(all.len(), |(i, _)| i + 1),
            );
            assert!(
                source.starts_with("! Source: Cisco Systems"),
                "{} does not name its source",
                path.display()
            );
            Example {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                text: text.to_string(),
            }
        })
        .collect()
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
                "example {} ({k:?}):\n{}\n{}got {got:?}\n\n",
                ex.file,
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
            "rendering of example {} does not parse:\n{rendered}\n{:?}",
            ex.file,
            again.diagnostics
        );
        assert_eq!(
            again.config, checked.config,
            "round trip of example {}:\n{rendered}",
            ex.file
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
