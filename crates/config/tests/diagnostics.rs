//! Each kind of diagnostic, with its exact position and message.

use config::{Code, Severity};

/// (line, column, severity, code, message) of every diagnostic of `text`.
fn diags(text: &str) -> Vec<(u32, u32, Severity, Code, String)> {
    config::check(text)
        .diagnostics
        .0
        .into_iter()
        .map(|d| (d.span.line, d.span.col, d.severity, d.code, d.message))
        .collect()
}

/// The one diagnostic of `text` with `code`.
fn one(text: &str, code: Code) -> config::Diagnostic {
    let all = config::check(text).diagnostics.0;
    let mut matching: Vec<_> = all.iter().filter(|d| d.code == code).cloned().collect();
    assert_eq!(matching.len(), 1, "{all:#?}");
    matching.remove(0)
}

use Code::*;
use Severity::{Error as E, Warning as W};

const MAP_OK: &str = "crypto ipsec transform-set ts esp-gcm 256\n\
                      access-list 101 permit ip 10.0.0.0 0.0.0.255 10.1.0.0 0.0.0.255\n";

#[test]
fn unknown_command_in_a_mode_lists_its_keywords_and_suggests() {
    let d = one(
        "crypto map m 10 ipsec-isakmp\n sett peer 10.1.1.1\n",
        UnknownCommand,
    );
    assert_eq!((d.span.line, d.span.col, d.span.len), (2, 2, 4));
    assert_eq!(d.message, "unknown command 'sett' in crypto map mode");
    assert_eq!(
        d.expected,
        ["description", "match", "set", "reverse-route", "exit"]
    );
    assert_eq!(d.suggestion.as_deref(), Some("set"));
}

#[test]
fn unknown_global_command() {
    let d = one("interfase Gi0/0\n", UnknownCommand);
    assert_eq!((d.span.line, d.span.col), (1, 1));
    assert_eq!(d.message, "unknown command 'interfase'");
    assert_eq!(d.suggestion.as_deref(), Some("interface"));
}

#[test]
fn wrong_keyword_says_what_was_expected() {
    let d = one(
        "crypto map m 10 ipsec-isakmp\n set peeer 10.1.1.1\n",
        UnexpectedToken,
    );
    assert_eq!((d.span.line, d.span.col), (2, 6));
    assert_eq!(d.message, "unexpected 'peeer': expected a set command");
    assert!(d.expected.contains(&"peer".to_string()));
    assert_eq!(d.suggestion.as_deref(), Some("peer"));
}

#[test]
fn trailing_words_are_errors() {
    assert_eq!(
        diags("hostname a b\n"),
        vec![(
            1,
            12,
            E,
            UnexpectedToken,
            "unexpected 'b': the command is complete without it".into()
        )]
    );
}

#[test]
fn missing_words_point_past_the_end_of_the_line() {
    assert_eq!(
        diags("ip route 10.0.0.0 255.0.0.0\n"),
        vec![(
            1,
            29,
            E,
            Incomplete,
            "incomplete command: expected a next-hop address or an interface".into()
        )]
    );
}

#[test]
fn values_out_of_range_and_malformed() {
    assert_eq!(
        diags("crypto map m 70000 ipsec-isakmp\n"),
        vec![(
            1,
            14,
            E,
            InvalidValue,
            "invalid sequence number '70000': expected a number from 1 to 65535".into()
        )]
    );
    assert_eq!(
        diags("interface Loopback0\n ip address 10.0.0.1 255.0.255.0\n"),
        vec![(
            2,
            22,
            E,
            InvalidValue,
            "invalid interface mask '255.0.255.0': a mask must be contiguous ones then zeros"
                .into()
        )]
    );
    assert_eq!(
        diags("ip route 10.1.1.1 255.255.255.0 10.0.0.1\n"),
        vec![(
            1,
            10,
            E,
            InvalidValue,
            "inconsistent address and mask: 10.1.1.1 has host bits set for mask 255.255.255.0 (the network is 10.1.1.0)"
                .into()
        )]
    );
    let d = one(
        "crypto ipsec security-association replay window-size 100\n",
        InvalidValue,
    );
    assert_eq!((d.span.line, d.span.col), (1, 54));
    assert!(
        d.message
            .contains("expected 64, 128, 256, 512, 1024, 2048 or 4096"),
        "{}",
        d.message
    );
}

#[test]
fn ambiguous_abbreviations() {
    // "crypto i" could be ipsec, isakmp or ikev2.
    let d = one("crypto i\n", Ambiguous);
    assert_eq!((d.span.line, d.span.col), (1, 8));
    assert_eq!(
        d.message,
        "ambiguous command 'i': it abbreviates several keywords"
    );
    assert_eq!(d.expected, ["ipsec", "isakmp", "ikev2"]);
}

#[test]
fn abbreviations_that_are_unique_are_accepted() {
    let checked = config::check("int fa0/0\n ip add 10.0.0.1 255.255.255.0\n shut\n");
    assert!(
        checked.diagnostics.0.is_empty(),
        "{:?}",
        checked.diagnostics
    );
    let i = &checked.config.interfaces[0];
    assert_eq!(i.name.value, "FastEthernet0/0");
    assert!(i.shutdown);
}

#[test]
fn documentation_spellings_are_read_with_a_warning() {
    assert_eq!(
        diags("ip name server 10.0.0.1\n"),
        vec![(
            1,
            4,
            W,
            NonCanonicalSpelling,
            "'ip name server' is written 'ip name-server'; read as that".into()
        )]
    );
    let d = one(
        "crypto dynamic-map d 1\n reverse-route remote peer 10.1.1.1 gateway\n",
        NonCanonicalSpelling,
    );
    assert_eq!((d.span.line, d.span.col, d.span.len), (2, 16, 11));
}

#[test]
fn omitted_values_are_assumed_with_a_warning() {
    assert_eq!(
        diags("interface Serial1\n ip address 30.0.0.1\n"),
        vec![(
            2,
            22,
            W,
            MissingValueAssumed,
            "'ip address' without a mask: assuming the classful mask 255.0.0.0".into()
        )]
    );
}

#[test]
fn undefined_references_of_every_kind() {
    let text = "crypto map m 10 ipsec-isakmp\n\
                \x20set peer 10.1.1.1\n\
                \x20match address 199\n\
                \x20set transform-set nosuch\n\
                \x20set ikev2-profile p2\n\
                \x20set isakmp-profile p1\n\
                crypto map m 20 ipsec-isakmp dynamic nodyn\n\
                interface Gi0/0\n\
                \x20vrf forwarding blue\n\
                \x20crypto map other\n\
                interface Tunnel1\n\
                \x20tunnel protection ipsec profile vti\n\
                \x20ip unnumbered Loopback9\n\
                ip route vrf red 10.0.0.0 255.0.0.0 Serial9\n\
                router ospf 1\n\
                \x20redistribute static subnets route-map rri\n\
                interface Tunnel2\n\
                \x20tunnel source Gi0/9\n\
                interface Tunnel3\n\
                \x20tunnel source Gi0/0\n\
                interface Tunnel4\n\
                \x20tunnel source 192.0.2.1\n";
    let got: Vec<(u32, u32, String)> = config::check(text)
        .diagnostics
        .0
        .into_iter()
        .filter(|d| d.code == Undefined)
        .map(|d| (d.span.line, d.span.col, d.message))
        .collect();
    let want: Vec<(u32, u32, String)> = vec![
        (3, 16, "access list '199' is not defined".into()),
        (4, 20, "transform set 'nosuch' is not defined".into()),
        (5, 20, "ikev2 profile 'p2' is not defined".into()),
        (6, 21, "isakmp profile 'p1' is not defined".into()),
        (7, 38, "dynamic crypto map 'nodyn' is not defined".into()),
        (9, 17, "VRF 'blue' is not defined".into()),
        (10, 13, "crypto map 'other' is not defined".into()),
        (12, 34, "IPsec profile 'vti' is not defined".into()),
        (13, 16, "interface 'Loopback9' is not defined".into()),
        (14, 1, "VRF 'red' is not defined".into()),
        (14, 1, "interface 'Serial9' is not defined".into()),
        (16, 40, "route-map 'rri' is not defined".into()),
        (
            18,
            16,
            "interface 'GigabitEthernet0/9' is not defined".into(),
        ),
    ];
    assert_eq!(got, want);
}

#[test]
fn legacy_transform_set_names_get_a_note() {
    let d = one(
        &format!("{MAP_OK}crypto map m 1 ipsec-isakmp\n set transform-set 3dessha\n"),
        Undefined,
    );
    assert_eq!((d.span.line, d.span.col), (4, 20));
    assert!(d.note.unwrap().contains("legacy transform"));
}

#[test]
fn legacy_transforms_are_unsupported_with_alternatives() {
    let text = "crypto ipsec transform-set old esp-aes 256 esp-sha-hmac\n";
    let all = config::check(text).diagnostics.0;
    let got: Vec<(u32, u32, Code, String, Option<String>)> = all
        .into_iter()
        .map(|d| (d.span.line, d.span.col, d.code, d.message, d.note))
        .collect();
    let note =
        Some("supported transforms: esp-gcm 128, esp-gcm 256, esp-chacha20-poly1305".to_string());
    assert_eq!(
        got,
        vec![
            (
                1,
                32,
                UnsupportedTransform,
                "transform 'esp-aes 256' in transform set 'old' is not supported by rri's data plane".into(),
                note.clone()
            ),
            (
                1,
                44,
                UnsupportedTransform,
                "transform 'esp-sha-hmac' in transform set 'old' is not supported by rri's data plane".into(),
                note
            ),
        ]
    );
}

#[test]
fn default_peer_only_on_the_first() {
    let d = one(
        &format!("{MAP_OK}crypto map m 1 ipsec-isakmp\n set peer 10.1.1.1\n set peer 10.2.2.2 default\n match address 101\n set transform-set ts\n"),
        DefaultPeer,
    );
    assert_eq!((d.span.line, d.span.col, d.severity), (5, 11, E));
    assert_eq!(
        d.message,
        "crypto map m 1: only the first peer can be the default peer"
    );
}

#[test]
fn idle_time_equal_to_global_is_not_applied() {
    let d = one(
        &format!(
            "{MAP_OK}crypto ipsec security-association idle-time 300\n\
             crypto map m 1 ipsec-isakmp\n set peer 10.1.1.1 default\n match address 101\n set transform-set ts\n\
             \x20set security-association idletime 300 default\n"
        ),
        IdleTimeNotApplied,
    );
    assert_eq!((d.span.line, d.span.col, d.severity), (8, 36, W));
    assert_eq!(
        d.message,
        "crypto map m 1: idle time 300 equals the global idle time and is not applied"
    );
}

#[test]
fn gateway_is_for_crypto_maps_only() {
    let d = one(
        "crypto ipsec profile vti\n reverse-route remote-peer 10.4.4.4 gateway\n",
        CryptoMapOnly,
    );
    assert_eq!((d.span.line, d.span.col, d.severity), (2, 2, E));
    assert!(d
        .message
        .starts_with("crypto ipsec profile vti: 'reverse-route' options"));
    // The same line is fine in a crypto map and a dynamic map.
    let ok = config::check(&format!(
        "{MAP_OK}crypto dynamic-map d 1\n reverse-route remote-peer 10.4.4.4 gateway\n set transform-set ts\n"
    ));
    assert!(ok.diagnostics.0.is_empty(), "{:?}", ok.diagnostics);
}

#[test]
fn legacy_reverse_route_forms() {
    let d = one("crypto dynamic-map d 1\n reverse-route tag 5\n", Legacy);
    assert_eq!((d.span.line, d.span.col), (2, 2));
    assert_eq!(
        d.message,
        "crypto dynamic-map d 1: 'reverse-route tag N' is the legacy form; write 'set reverse-route tag N'"
    );
    let d = one(
        "crypto dynamic-map d 1\n reverse-route remote-peer\n",
        Legacy,
    );
    assert!(d.message.contains("without an address is legacy"));
}

#[test]
fn shadowed_and_overlapping_acl_entries() {
    let text = "access-list 110 permit ip 10.0.0.0 0.0.255.255 any\n\
                access-list 110 deny tcp 10.0.1.0 0.0.0.255 any eq 22\n\
                access-list 110 deny ip any 192.168.0.0 0.0.255.255\n\
                access-list 110 permit udp any any range 1000 2000\n\
                access-list 110 permit udp any any eq 1500\n";
    let got: Vec<(u32, Code)> = config::check(text)
        .diagnostics
        .0
        .iter()
        .map(|d| (d.span.line, d.code))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, AclShadowed),
            (3, AclOverlap),
            (4, AclOverlap),
            (5, AclShadowed)
        ]
    );
    let all = config::check(text).diagnostics.0;
    let d = all.iter().find(|d| d.span.line == 3).unwrap();
    assert_eq!(
        d.message,
        "access list 110: 'deny ip any 192.168.0.0 0.0.255.255' overlaps line 1 ('permit ip 10.0.0.0 0.0.255.255 any') \
         with the opposite action; the earlier entry wins where they overlap"
    );
}

#[test]
fn manual_maps_need_keys_that_fit_the_transform() {
    let text = format!(
        "{MAP_OK}crypto map m 1 ipsec-manual\n set peer 10.1.1.1\n match address 101\n set transform-set ts\n\
         \x20set session-key outbound esp 300 cipher 00112233445566778899aabbccddeeff00112233\n"
    );
    let all = config::check(&text).diagnostics.0;
    let got: Vec<(u32, Code, &str)> = all
        .iter()
        .map(|d| (d.span.line, d.code, d.message.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, ManualKeyAead, "crypto map m 1: manual keys with an AEAD cipher; RFC 8221 advises against manual keying with counter-mode ciphers (AES-GCM, ChaCha20-Poly1305): a repeated sequence number repeats the nonce"),
            (4, Inconsistent, "crypto map m 1: no inbound session key ('set session-key inbound esp SPI cipher HEX')"),
            (
                7,
                InvalidValue,
                "crypto map m 1: esp-gcm 256 needs 36 bytes of key material (72 hexadecimal digits: key then 4-byte salt), given 20"
            ),
        ]
    );
}

#[test]
fn transport_mode_is_not_implemented() {
    let d = one(
        "crypto ipsec transform-set t esp-gcm 128\n mode transport\n",
        NotImplemented,
    );
    assert_eq!((d.span.line, d.span.col, d.severity), (2, 7, E));
}

#[test]
fn every_error_of_a_file_is_reported() {
    let text = "hostname\nfoo\ncrypto map m x\n set peer 1.1.1.1\nbar baz\nip route 1.1.1.1\n";
    let lines: Vec<u32> = config::check(text)
        .diagnostics
        .errors()
        .map(|d| d.span.line)
        .collect();
    assert_eq!(
        lines,
        vec![1, 2, 3, 5, 6],
        "line 4 belongs to the broken block and is skipped"
    );
}

#[test]
fn rendering_names_file_line_and_column() {
    let text = "crypto map m 10 ipsec-isakmp\n set peeer 10.1.1.1\n";
    let out = config::check(text).diagnostics.render("hub.cfg", text);
    assert_eq!(
        out,
        "hub.cfg:1:14: warning: crypto map m 10 is incomplete: no peer is set\n\
         \x20   crypto map m 10 ipsec-isakmp\n\
         \x20                ^^\n\
         hub.cfg:1:14: warning: crypto map m 10 is incomplete: no access list is matched\n\
         \x20   crypto map m 10 ipsec-isakmp\n\
         \x20                ^^\n\
         hub.cfg:2:6: error: unexpected 'peeer': expected a set command\n\
         \x20    set peeer 10.1.1.1\n\
         \x20        ^^^^^\n\
         \x20 expected: peer, transform-set, reverse-route, security-association, isakmp-profile, ikev2-profile, pfs\n\
         \x20 did you mean 'peer'?\n\
         hub.cfg: 1 error, 2 warnings\n"
    );
}

#[test]
fn exception_then_rule_is_not_an_overlap() {
    // The later entry contains the earlier one: the usual "deny this, permit the rest".
    let text = "access-list 120 deny ip host 10.0.0.1 any\naccess-list 120 permit ip 10.0.0.0 0.0.0.255 any\n";
    assert!(config::check(text).diagnostics.0.is_empty());
}

#[test]
fn peer_backoff_and_dampening_limits_are_checked() {
    assert_eq!(
        diags("crypto peer backoff 5000 100\n"),
        vec![(
            1,
            26,
            E,
            InvalidValue,
            "the maximum backoff is smaller than the initial one".to_string()
        )]
    );
    assert_eq!(
        diags("crypto peer dampening 15 2000 750 60\n"),
        vec![(
            1,
            26,
            E,
            InvalidValue,
            "the reuse penalty must be below the suppress penalty".to_string()
        )]
    );
    assert!(
        diags("crypto peer backoff 500 20000\ncrypto peer dampening 15 750 2000 60\n").is_empty()
    );
}

/// An unknown block written as `show running-config` writes blocks: its indented body is its
/// own, never the body of the block above it.
#[test]
fn an_unknown_block_keeps_its_body() {
    let text = "interface GigabitEthernet0/0\n ip address 10.1.0.1 255.255.255.0\n\
                frobnicate vty 0 4\n shutdown\n description not the interface's\n\
                interface GigabitEthernet0/1\n shutdown\n";
    let checked = config::check(text);
    let all = diags(text);
    assert_eq!(
        all.iter().map(|d| (d.0, d.1, d.2, d.3)).collect::<Vec<_>>(),
        [(3, 1, E, UnknownCommand)],
        "{all:#?}"
    );
    let by_name = |n: &str| {
        checked
            .config
            .interfaces
            .iter()
            .find(|i| i.name.value == n)
            .unwrap()
    };
    let gi0 = by_name("GigabitEthernet0/0");
    assert!(
        !gi0.shutdown,
        "the unknown block's body shut the interface above it"
    );
    assert!(gi0.description.is_none());
    // The next known block reads as before.
    assert!(by_name("GigabitEthernet0/1").shutdown);
}

/// An unknown command indented inside a known block is that block's error, and the block
/// goes on.
#[test]
fn an_unknown_sub_command_stays_in_its_block() {
    let text = "interface GigabitEthernet0/0\n frobnicate\n shutdown\n";
    let all = diags(text);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!((all[0].0, all[0].1, all[0].3), (2, 2, UnknownCommand));
    assert!(config::check(text).config.interfaces[0].shutdown);
}

/// `set peer` takes an address or a host name: template placeholders and malformed names are
/// errors that say what is wrong, where a name would otherwise be looked up in DNS forever.
#[test]
fn peer_host_names_are_checked() {
    let map = |peer: &str| format!("crypto map m 10 ipsec-isakmp\n set peer {peer}\n");
    for (peer, says) in [
        ("<PEER_IP>", "placeholder"),
        ("{peer_address}", "placeholder"),
        ("x.x.x.x", "placeholder"),
        ("X.X.X.X", "placeholder"),
        ("300.1.1.1", "not an IPv4 address"),
        ("hub..example.com", "empty label"),
        ("hub_1.example.com", "'_' is not a letter"),
        ("-hub.example.com", "hyphen"),
        ("hub.example.123", "all digits"),
    ] {
        let d = one(&map(peer), InvalidValue);
        assert_eq!((d.span.line, d.span.col), (2, 11), "{peer}");
        assert!(d.message.contains(says), "{peer}: {}", d.message);
    }
    // Names and addresses that are fine stay fine.
    for peer in [
        "hub",
        "hub-1.example.com",
        "b.cisco.com dynamic",
        "10.1.1.1 default",
    ] {
        let all = diags(&map(peer));
        assert!(all.iter().all(|d| d.3 != InvalidValue), "{peer}: {all:#?}");
    }
}

/// What editors and exports put in files: a byte order mark is skipped, a comment in Latin-1
/// is tolerated, bytes that are not text in a command line and NULs anywhere are errors.
#[test]
fn encodings_byte_order_marks_and_nuls() {
    let bom = config::check("\u{feff}hostname r1\n");
    assert!(bom.diagnostics.0.is_empty(), "{:?}", bom.diagnostics);
    assert_eq!(bom.config.hostname.unwrap().value, "r1");

    // "! Büro" in Latin-1 (0xfc), then a command.
    let (text, latin1) = config::check_bytes(b"! B\xfcro\nhostname r1\n");
    assert!(latin1.diagnostics.0.is_empty(), "{:?}", latin1.diagnostics);
    assert!(text.contains("Büro"));
    assert_eq!(latin1.config.hostname.unwrap().value, "r1");

    let (_, bad) = config::check_bytes(b"hostname r1\ndescription caf\xe9\nhostname r2\n");
    let errors: Vec<_> = bad.diagnostics.errors().collect();
    assert!(
        errors
            .iter()
            .any(|d| d.span.line == 2 && d.span.col == 16 && d.message.contains("not UTF-8")),
        "{errors:#?}"
    );
    assert_eq!(bad.config.hostname.unwrap().value, "r2");

    for text in [
        "hostname r1\0\n",
        "! a comment \0 with a NUL\nhostname r1\n",
    ] {
        let d = one(text, InvalidValue);
        assert!(d.message.contains("NUL"), "{text:?}: {}", d.message);
    }
    // The damaged line is not read.
    assert!(config::check("hostname r1\0\n").config.hostname.is_none());
}

/// Abbreviations resolve in the current mode first: `en` in an isakmp policy is `encryption`
/// (never global `end`, which would drop the policy's remaining lines into global mode), and
/// a word that abbreviates several of the mode's commands is ambiguous there.
#[test]
fn abbreviations_resolve_in_the_current_mode_first() {
    let text =
        "crypto isakmp policy 10\n en aes\n hash sha256\n authentication pre-share\n group 14\n";
    let checked = config::check(text);
    let errors: Vec<_> = checked.diagnostics.errors().collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let policy = &checked.config.isakmp.policies[&10];
    assert_eq!(policy.encryption.as_ref().unwrap().value, "aes");
    // In an isakmp profile `k` fits `keyring` and `keepalive`: ambiguous, reported there
    // (not tried as a global command), and the block goes on.
    let text = "crypto isakmp profile P\n k 10\n match identity address 10.0.0.1 255.255.255.255\n";
    let d = one(text, Ambiguous);
    assert_eq!((d.span.line, d.span.col), (2, 2));
    let checked = config::check(text);
    assert!(
        !checked.config.isakmp.profiles["P"]
            .match_identities
            .is_empty(),
        "the profile's later lines still apply"
    );
}
