//! rri as an IPsec gateway with strongSwan peers: IKEv2 from the control thread, ESP in
//! rri's DPDK data plane on veths (`net_af_packet`), pings between the protected networks
//! (10.1.0.0/16 inside rri, 10.2.0.0/16 behind each charon), RRI routes in
//! `show crypto route`, rekeying under traffic, and dead peer detection with failover.
//! Each test is its own process (nextest), so each has its own EAL and lab.

mod common;

use common::{config, Charon, Gateway, Lab};

const STATIC_ENTRY: &str = "crypto map VPN 10 ipsec-isakmp
 set peer 192.0.2.2
 set transform-set TS
 set ikev2-profile PROF
 match address 101
 reverse-route
";

const DYNAMIC_ENTRY: &str = "crypto dynamic-map DYN 10
 set transform-set TS
 set ikev2-profile PROF
 reverse-route
crypto map VPN 100 ipsec-isakmp dynamic DYN
";

/// rri initiates (a ping from inside raises the acquire), strongSwan answers; the ping then
/// passes, the RRI route to 10.2.0.0/16 appears, and clearing the SA removes it.
fn rri_initiates(transform: &str, ike_cipher: &str, sw_ike: &str, sw_esp: &str) {
    let lab = Lab::new();
    let charon = Charon::start(&lab, "swa", sw_ike, sw_esp);
    let gw = Gateway::start(&lab, &config(transform, ike_cipher, STATIC_ENTRY));
    assert!(
        !gw.show_crypto_route().contains("10.2.0.0"),
        "no RRI route before the SA: {}",
        gw.show_crypto_route()
    );
    // The first pings raise the acquire and are dropped while IKE runs.
    let mut replies = 0;
    for _ in 0..10 {
        replies = lab.ping_from_inside("10.2.0.1", 1, "1");
        if replies == 1 {
            break;
        }
    }
    let session = gw.with(|c| c.show_crypto_session());
    assert_eq!(
        replies,
        1,
        "no reply through the tunnel\n{session}\n{}",
        charon.log()
    );
    assert_eq!(lab.ping_from_inside("10.2.0.1", 5, "0.2"), 5);
    let routes = gw.show_crypto_route();
    assert!(
        routes.contains("10.2.0.0/255.255.0.0")
            && routes.contains("via 192.0.2.2")
            && routes.contains("RRI"),
        "{routes}"
    );
    assert!(session.contains("UP-ACTIVE"), "{session}");
    let sas = charon.list_sas();
    assert!(
        sas.contains("ESTABLISHED") && sas.contains("INSTALLED"),
        "{sas}"
    );
    eprintln!(
        "{session}\n{routes}\n{}",
        gw.with(|c| c.show_crypto_peer(common::now_ns()))
    );
    let c = gw.counters();
    assert!(c.encapsulated >= 6 && c.decapsulated >= 6, "{c:?}");

    gw.with(|c| c.clear(None, common::now_ns()));
    assert!(
        gw.wait_for(5, |g| !g.show_crypto_route().contains("10.2.0.0")),
        "the RRI route stays after the SA was cleared: {}",
        gw.show_crypto_route()
    );
    // charon got our delete.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while charon.list_sas().contains("ESTABLISHED") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        !charon.list_sas().contains("ESTABLISHED"),
        "{}",
        charon.list_sas()
    );
}

#[test]
fn rri_initiates_with_aes_gcm_128() {
    rri_initiates(
        "esp-gcm 128",
        "aes-gcm-128",
        "aes128gcm16-prfsha256-x25519",
        "aes128gcm16",
    );
}

#[test]
fn rri_initiates_with_aes_gcm_256() {
    rri_initiates(
        "esp-gcm 256",
        "aes-gcm-256",
        "aes256gcm16-prfsha256-x25519",
        "aes256gcm16",
    );
}

#[test]
fn rri_initiates_with_chacha20_poly1305() {
    rri_initiates(
        "esp-chacha20-poly1305",
        "chacha20-poly1305",
        "chacha20poly1305-prfsha256-x25519",
        "chacha20poly1305",
    );
}

/// strongSwan initiates to a dynamic crypto map; rri answers, narrows to what it permits,
/// and pings pass both ways; RRI adds the route to the peer's network.
fn strongswan_initiates(transform: &str, ike_cipher: &str, sw_ike: &str, sw_esp: &str) {
    let lab = Lab::new();
    let charon = Charon::start(&lab, "swa", sw_ike, sw_esp);
    let gw = Gateway::start(&lab, &config(transform, ike_cipher, DYNAMIC_ENTRY));
    let up = charon.vici("--initiate --child net --timeout 15");
    assert!(
        up.contains("initiate completed successfully"),
        "{up}\n{}",
        gw.with(|c| c.show_crypto_session())
    );
    assert!(
        gw.wait_for(5, |g| g
            .show_crypto_route()
            .contains("10.2.0.0/255.255.0.0")),
        "{}",
        gw.show_crypto_route()
    );
    // The first packet in may be lost while rri resolves the inside host's MAC.
    charon.ping_inside(1, "1");
    assert_eq!(charon.ping_inside(5, "0.2"), 5, "from behind strongSwan in");
    assert_eq!(
        lab.ping_from_inside("10.2.0.1", 5, "0.2"),
        5,
        "from inside out"
    );
    let session = gw.with(|c| c.show_crypto_session());
    assert!(session.contains("responder"), "{session}");
    // strongSwan deletes: rri's route and SA go.
    let down = charon.vici("--terminate --ike rri --timeout 10");
    assert!(down.contains("terminate completed successfully"), "{down}");
    assert!(
        gw.wait_for(5, |g| !g.show_crypto_route().contains("10.2.0.0")),
        "{}",
        gw.show_crypto_route()
    );
}

#[test]
fn strongswan_initiates_with_aes_gcm_128() {
    strongswan_initiates(
        "esp-gcm 128",
        "aes-gcm-128",
        "aes128gcm16-prfsha256-x25519",
        "aes128gcm16",
    );
}

#[test]
fn strongswan_initiates_with_aes_gcm_256() {
    strongswan_initiates(
        "esp-gcm 256",
        "aes-gcm-256",
        "aes256gcm16-prfsha256-x25519",
        "aes256gcm16",
    );
}

#[test]
fn strongswan_initiates_with_chacha20_poly1305() {
    strongswan_initiates(
        "esp-chacha20-poly1305",
        "chacha20-poly1305",
        "chacha20poly1305-prfsha256-x25519",
        "chacha20poly1305",
    );
}

/// A reload keeps what it does not touch: with strongSwan's tunnel to the dynamic map up,
/// a configuration that only adds a static route keeps the negotiated SA (same SPIs, pings
/// pass, the RRI route stays); one that changes the transform set the dynamic map uses
/// deletes it (strongSwan is told) and its route goes.
#[test]
fn reload_keeps_untouched_negotiated_sas_and_deletes_changed_ones() {
    let lab = Lab::new();
    let charon = Charon::start(&lab, "swa", "aes128gcm16-prfsha256-x25519", "aes128gcm16");
    let base = config("esp-gcm 128", "aes-gcm-128", DYNAMIC_ENTRY);
    let gw = Gateway::start(&lab, &base);
    let up = charon.vici("--initiate --child net --timeout 15");
    assert!(up.contains("initiate completed successfully"), "{up}");
    assert!(gw.wait_for(5, |g| g
        .show_crypto_route()
        .contains("10.2.0.0/255.255.0.0")));
    charon.ping_inside(1, "1");
    assert_eq!(charon.ping_inside(5, "0.2"), 5);
    let sessions = gw.with(|c| c.show_crypto_session());
    let spis_before = charon_spis(&charon.list_sas());

    let diff = gw.reload(&format!(
        "{base}ip route 172.16.0.0 255.255.0.0 192.0.2.254\n"
    ));
    assert!(
        diff.changed.is_empty() && diff.removed.is_empty(),
        "{diff:?}"
    );
    assert_eq!(gw.with(|c| c.show_crypto_session()), sessions);
    assert_eq!(
        charon.ping_inside(5, "0.2"),
        5,
        "from behind strongSwan in, after reload"
    );
    assert_eq!(
        lab.ping_from_inside("10.2.0.1", 5, "0.2"),
        5,
        "from inside out, after reload"
    );
    assert_eq!(charon_spis(&charon.list_sas()), spis_before);
    assert!(gw.show_crypto_route().contains("10.2.0.0/255.255.0.0"));
    assert!(gw
        .with(|c| c.routes.show_ip_route(None))
        .contains("172.16.0.0"));

    let diff = gw.reload(&config("esp-gcm 256", "aes-gcm-128", DYNAMIC_ENTRY));
    assert_eq!(diff.changed.len(), 1, "{diff:?}");
    assert!(
        gw.wait_for(5, |g| !g.show_crypto_route().contains("10.2.0.0")),
        "{}",
        gw.show_crypto_route()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while charon.list_sas().contains("ESTABLISHED") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let after = charon.list_sas();
    assert!(
        !after.contains("ESTABLISHED"),
        "strongSwan was not told: {after}"
    );
}

/// The SPIs charon shows for its child SA (`in c1234567, out c7654321`).
fn charon_spis(list: &str) -> Vec<String> {
    list.split_whitespace()
        .filter(|w| w.len() == 9 && w.ends_with(',') || w.len() == 8)
        .filter(|w| {
            w.trim_end_matches(',')
                .chars()
                .all(|c| c.is_ascii_hexdigit())
        })
        .map(|w| w.trim_end_matches(',').to_string())
        .collect()
}

/// A continuous ping (100 per second) through the tunnel while charon rekeys the child SA,
/// then rri does, then charon rekeys the IKE SA: every echo comes back, the child SPIs in
/// use have changed twice and the IKE SA's once.
#[test]
fn rekeying_under_traffic_loses_no_packet() {
    let lab = Lab::new();
    let charon = Charon::start(&lab, "swa", "aes128gcm16-prfsha256-x25519", "aes128gcm16");
    let gw = Gateway::start(&lab, &config("esp-gcm 128", "aes-gcm-128", STATIC_ENTRY));
    let mut up = false;
    for _ in 0..10 {
        if lab.ping_from_inside("10.2.0.1", 1, "1") == 1 {
            up = true;
            break;
        }
    }
    assert!(up, "{}", charon.log());
    let before = charon.list_sas();
    let ns = lab.ns("in");
    let flood = std::process::Command::new("ip")
        .args([
            "netns", "exec", &ns, "ping", "-n", "-q", "-c", "600", "-i", "0.01", "-W", "2",
            "10.2.0.1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let r = charon.vici("--rekey --child net");
    assert!(r.contains("rekey completed successfully"), "{r}");
    let middle = charon.list_sas();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    gw.with(|c| c.rekey(None, common::now_ns()));
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let after = charon.list_sas();
    // charon rekeys the IKE SA too: rri follows to the new SPIs, the child SA stays.
    let ike_before = gw.with(|c| c.engine.sessions_view());
    let r = charon.vici("--rekey --ike rri");
    assert!(r.contains("rekey completed successfully"), "{r}");
    assert!(
        gw.wait_for(3, |g| g.with(|c| c.engine.sessions_view()).iter().any(
            |s| {
                s.status == "UP-ACTIVE" && s.ike_spi_initiator != ike_before[0].ike_spi_initiator
            }
        )),
        "{}",
        gw.with(|c| c.show_crypto_session())
    );
    let done = flood.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&done.stdout);
    let received = common::received(&text);
    let (b, m, a) = (
        charon_spis(&before),
        charon_spis(&middle),
        charon_spis(&after),
    );
    assert!(
        !b.is_empty() && b != m && m != a && b != a,
        "SPIs before {b:?}, after charon's rekey {m:?}, after ours {a:?}\n{after}"
    );
    assert_eq!(received, 600, "{text}\n{:?}", gw.counters());
    assert!(
        gw.show_crypto_route().contains("10.2.0.0/255.255.0.0"),
        "the RRI route stays through rekeys: {}",
        gw.show_crypto_route()
    );
}

/// Two strongSwan peers on one entry, the first the default. Killing the default peer
/// makes DPD (`dpd 10 2 periodic`, IOS's shortest interval: a check after 10 s without
/// inbound traffic, five liveness checks 2 s apart) declare it dead within 20 s (and a second of
/// traffic sampling); rri fails over to the second; once the default
/// is back and the tunnel with the second is cleared, the next connection goes to the
/// default again.
#[test]
fn dead_default_peer_fails_over_and_the_next_connection_returns_to_it() {
    let lab = Lab::new();
    let (ike, esp) = ("aes128gcm16-prfsha256-x25519", "aes128gcm16");
    let mut a = Charon::start(&lab, "swa", ike, esp);
    let b = Charon::start(&lab, "swb", ike, esp);
    let entry = "crypto ikev2 profile PROF
 dpd 10 2 periodic
crypto map VPN 10 ipsec-isakmp
 set peer 192.0.2.2 default
 set peer 192.0.2.3
 set transform-set TS
 set ikev2-profile PROF
 match address 101
 reverse-route
";
    let gw = Gateway::start(&lab, &config("esp-gcm 128", "aes-gcm-128", entry));
    let connect = |gw: &Gateway| {
        for _ in 0..15 {
            if lab.ping_from_inside("10.2.0.1", 1, "1") == 1 {
                return true;
            }
        }
        let _ = gw;
        false
    };
    assert!(
        connect(&gw),
        "{}",
        gw.with(|c| c.show_crypto_peer(common::now_ns()))
    );
    assert!(
        a.list_sas().contains("ESTABLISHED"),
        "the default peer first"
    );
    assert!(gw.show_crypto_route().contains("via 192.0.2.2"));

    let killed = std::time::Instant::now();
    a.kill();
    assert!(
        gw.wait_for(30, |g| g.show_crypto_route().contains("via 192.0.2.3")),
        "no failover: {}\n{}",
        gw.with(|c| c.show_crypto_peer(common::now_ns())),
        gw.show_crypto_route()
    );
    let failover = killed.elapsed();
    let peers = gw.with(|c| c.show_crypto_peer(common::now_ns()));
    assert!(
        failover <= std::time::Duration::from_secs(22),
        "DPD took {failover:?} (configured: 10 s + 5 x 2 s)\n{peers}"
    );
    assert!(!gw.show_crypto_route().contains("via 192.0.2.2"));
    assert_eq!(
        lab.ping_from_inside("10.2.0.1", 3, "0.2"),
        3,
        "through the second peer"
    );
    assert!(b.list_sas().contains("ESTABLISHED"));

    a.run();
    gw.with(|c| c.clear(Some("192.0.2.3".parse().unwrap()), common::now_ns()));
    assert!(gw.wait_for(5, |g| !g.show_crypto_route().contains("10.2.0.0")));
    assert!(
        connect(&gw),
        "{}",
        gw.with(|c| c.show_crypto_peer(common::now_ns()))
    );
    assert!(
        gw.show_crypto_route().contains("via 192.0.2.2"),
        "back to the default peer: {}\n{}",
        gw.show_crypto_route(),
        gw.with(|c| c.show_crypto_peer(common::now_ns()))
    );
    assert!(a.list_sas().contains("ESTABLISHED"), "{}", a.list_sas());
    eprintln!("failover after {failover:?}\n{peers}");
}

/// IOS's `pre-shared-key local` / `remote`: each side signs its AUTH with its own key and
/// checks the other's with the other's. strongSwan signs with the secret that matches both
/// identities best (`ike-swa`) and accepts the peer's AUTH if any secret of the pair
/// verifies it, so what the swapped case below proves is that rri checks strongSwan's AUTH
/// with its remote key; the exchange tests prove rri signs with its local key.
const ASYMMETRIC_KEYS: &str = "ike-swa { id-1 = 192.0.2.2\n id-2 = 192.0.2.1\n \
     secret = \"swan-signs-with-this\" }\n \
     ike-rri { id = 192.0.2.1\n secret = \"rri-signs-with-this\" }";

fn asymmetric_config(entry: &str, local: &str, remote: &str) -> String {
    config("esp-gcm 128", "aes-gcm-128", entry).replace(
        &format!("  address 192.0.2.2\n  pre-shared-key {}", common::PSK),
        &format!(
            "  address 192.0.2.2\n  pre-shared-key local {local}\n  pre-shared-key remote {remote}"
        ),
    )
}

const SW_IKE: &str = "aes128gcm16-prfsha256-x25519";

/// strongSwan initiates, rri answers (one gateway per test: the EAL starts once per process).
#[test]
fn asymmetric_pre_shared_keys_when_strongswan_initiates() {
    let lab = Lab::new();
    let charon = Charon::start_with_secrets(&lab, "swa", SW_IKE, "aes128gcm16", ASYMMETRIC_KEYS);
    let cfg = asymmetric_config(DYNAMIC_ENTRY, "rri-signs-with-this", "swan-signs-with-this");
    assert!(
        cfg.contains("pre-shared-key local rri-signs-with-this"),
        "{cfg}"
    );
    let _gw = Gateway::start(&lab, &cfg);
    let up = charon.vici("--initiate --child net --timeout 15");
    assert!(
        up.contains("initiate completed successfully"),
        "{up}\n{}",
        charon.log()
    );
}

#[test]
fn asymmetric_pre_shared_keys_when_rri_initiates() {
    let lab = Lab::new();
    let charon = Charon::start_with_secrets(&lab, "swa", SW_IKE, "aes128gcm16", ASYMMETRIC_KEYS);
    let cfg = asymmetric_config(STATIC_ENTRY, "rri-signs-with-this", "swan-signs-with-this");
    let gw = Gateway::start(&lab, &cfg);
    let mut replies = 0;
    for _ in 0..10 {
        replies = lab.ping_from_inside("10.2.0.1", 1, "1");
        if replies == 1 {
            break;
        }
    }
    assert_eq!(
        replies,
        1,
        "{}\n{}",
        gw.with(|c| c.show_crypto_session()),
        charon.log()
    );
}

/// The keys swapped: rri refuses strongSwan's AUTH (it checks it with its remote key).
#[test]
fn swapped_pre_shared_keys_are_refused() {
    let lab = Lab::new();
    let charon = Charon::start_with_secrets(&lab, "swa", SW_IKE, "aes128gcm16", ASYMMETRIC_KEYS);
    let cfg = asymmetric_config(DYNAMIC_ENTRY, "swan-signs-with-this", "rri-signs-with-this");
    let gw = Gateway::start(&lab, &cfg);
    let up = charon.vici("--initiate --child net --timeout 10");
    assert!(!up.contains("initiate completed successfully"), "{up}");
    assert!(
        up.contains("AUTHENTICATION_FAILED") || charon.log().contains("AUTHENTICATION_FAILED"),
        "{up}"
    );
    assert!(
        !gw.show_crypto_route().contains("10.2.0.0"),
        "{}",
        gw.show_crypto_route()
    );
}
