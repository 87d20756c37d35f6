//! What a new configuration changes, crypto map entry by crypto map entry.
//!
//! A reload applies only differences. The unit that keeps or loses its SAs is the crypto
//! map entry: it keeps them when everything its SAs were made from is equal in both
//! configurations — the entry itself (peers, ACL name, transform sets, lifetimes, keys),
//! the access list it matches, its transform sets, the dynamic map it points to, the
//! interface the map is applied to (name, addresses, VRF), the global IPsec settings and,
//! for IKE entries, the IKEv2/ISAKMP settings and keyrings. Anything else — static routes,
//! other entries, interfaces without the map — changes without touching those SAs.
//!
//! Some settings are read once at start and a reload cannot change them: the DPDK settings
//! and the DPDK devices behind interfaces (ports are opened at start) and the name servers
//! (the resolver is made at start). A reload reports them as needing a restart.

use config::model::CryptoMapKind;
use config::Config;
use std::collections::BTreeSet;

/// A crypto map entry: (map, seq).
pub type EntryKey = (String, u32);

/// What differs between a running and a new configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Entries in both, equal in everything their SAs depend on.
    pub unchanged: BTreeSet<EntryKey>,
    /// Entries in both that differ: their SAs are cleared and made again.
    pub changed: Vec<EntryKey>,
    /// Entries only in the new configuration.
    pub added: Vec<EntryKey>,
    /// Entries only in the running configuration: their SAs are cleared.
    pub removed: Vec<EntryKey>,
    /// Settings that changed but take effect only at the next start.
    pub restart_needed: Vec<String>,
}

impl Diff {
    /// One line per kind of change, as `configure replace` reports it.
    pub fn summary(&self) -> String {
        let list = |v: &[EntryKey]| {
            v.iter()
                .map(|(m, s)| format!("{m} {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = String::new();
        out.push_str(&format!(
            "crypto map entries: {} unchanged, {} changed, {} added, {} removed\n",
            self.unchanged.len(),
            self.changed.len(),
            self.added.len(),
            self.removed.len()
        ));
        if !self.changed.is_empty() {
            out.push_str(&format!(
                "  changed (SAs deleted and made again): {}\n",
                list(&self.changed)
            ));
        }
        if !self.added.is_empty() {
            out.push_str(&format!("  added: {}\n", list(&self.added)));
        }
        if !self.removed.is_empty() {
            out.push_str(&format!(
                "  removed (SAs cleared): {}\n",
                list(&self.removed)
            ));
        }
        for r in &self.restart_needed {
            out.push_str(&format!(
                "% {r} changed: takes effect at the next start of rrid\n"
            ));
        }
        out
    }
}

/// Compares `old` and `new`.
pub fn diff(old: &Config, new: &Config) -> Diff {
    let entries = |c: &Config| -> BTreeSet<EntryKey> {
        c.crypto_maps
            .iter()
            .flat_map(|(name, m)| m.entries.keys().map(move |s| (name.clone(), *s)))
            .collect()
    };
    let (before, after) = (entries(old), entries(new));
    let mut d = Diff::default();
    for key in before.intersection(&after) {
        if entry_depends_equal(old, new, key) {
            d.unchanged.insert(key.clone());
        } else {
            d.changed.push(key.clone());
        }
    }
    d.added = after.difference(&before).cloned().collect();
    d.removed = before.difference(&after).cloned().collect();
    if old.dpdk != new.dpdk {
        d.restart_needed.push("dpdk settings".into());
    }
    let devices = |c: &Config| -> Vec<(String, String)> {
        c.interfaces
            .iter()
            .filter_map(|i| {
                let dev = i.dpdk_device.as_ref()?;
                Some((i.name.value.clone(), format!("{:?}", dev.value)))
            })
            .collect()
    };
    if devices(old) != devices(new) {
        d.restart_needed.push("DPDK devices of interfaces".into());
    }
    let macs = |c: &Config| -> Vec<(String, [u8; 6])> {
        c.interfaces
            .iter()
            .filter_map(|i| Some((i.name.value.clone(), i.mac_address.as_ref()?.value)))
            .collect()
    };
    if macs(old) != macs(new) {
        d.restart_needed.push("MAC addresses of interfaces".into());
    }
    if old.name_servers != new.name_servers || old.dns_resolver != new.dns_resolver {
        d.restart_needed.push("name servers".into());
    }
    d
}

/// Whether everything entry `key`'s SAs were made from is equal in `old` and `new`.
fn entry_depends_equal(old: &Config, new: &Config, key: &EntryKey) -> bool {
    fn get<'c>(
        c: &'c Config,
        key: &EntryKey,
    ) -> Option<(
        &'c config::model::CryptoMap,
        &'c config::model::CryptoMapEntry,
    )> {
        let m = c.crypto_maps.get(&key.0)?;
        Some((m, m.entries.get(&key.1)?))
    }
    let (Some((old_map, a)), Some((new_map, b))) = (get(old, key), get(new, key)) else {
        return false;
    };
    if a != b || old_map.local_address != new_map.local_address {
        return false;
    }
    if old.ipsec_global != new.ipsec_global || old.peer_policy != new.peer_policy {
        return false;
    }
    if old.domain_name != new.domain_name {
        return false;
    }
    let acl = |c: &'_ Config, e: &config::model::CryptoMapEntry| {
        e.body
            .match_address
            .as_ref()
            .and_then(|n| c.access_lists.get(&n.value).cloned())
    };
    if acl(old, a) != acl(new, b) {
        return false;
    }
    let transforms = |c: &'_ Config, e: &config::model::CryptoMapEntry| {
        e.body
            .transform_sets
            .iter()
            .map(|t| c.transform_sets.get(&t.value).cloned())
            .collect::<Vec<_>>()
    };
    if transforms(old, a) != transforms(new, b) {
        return false;
    }
    // Where the map is applied: the interfaces carrying it, with their addresses and VRF.
    let places = |c: &'_ Config| {
        c.interfaces
            .iter()
            .filter(|i| i.crypto_map.as_ref().is_some_and(|m| m.name == key.0))
            .map(|i| {
                (
                    i.name.value.clone(),
                    i.address,
                    i.secondary_addresses.clone(),
                    i.vrf.clone(),
                    i.shutdown,
                )
            })
            .collect::<Vec<_>>()
    };
    if places(old) != places(new) {
        return false;
    }
    match &a.kind {
        CryptoMapKind::Manual => true,
        CryptoMapKind::Isakmp => old.ikev2 == new.ikev2 && old.isakmp == new.isakmp,
        CryptoMapKind::Dynamic(name) => {
            old.ikev2 == new.ikev2
                && old.isakmp == new.isakmp
                && old.dynamic_maps.get(&name.value) == new.dynamic_maps.get(&name.value)
                && dynamic_acls_equal(old, new, &name.value)
        }
    }
}

/// The access lists and transform sets a dynamic map's entries name, equal in both.
fn dynamic_acls_equal(old: &Config, new: &Config, name: &str) -> bool {
    let Some(map) = old.dynamic_maps.get(name) else {
        return true;
    };
    map.entries.values().all(|e| {
        let acl_equal = e
            .body
            .match_address
            .as_ref()
            .is_none_or(|n| old.access_lists.get(&n.value) == new.access_lists.get(&n.value));
        let ts_equal = e
            .body
            .transform_sets
            .iter()
            .all(|t| old.transform_sets.get(&t.value) == new.transform_sets.get(&t.value));
        acl_equal && ts_equal
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "\
crypto ipsec transform-set GCM esp-gcm 256
crypto map vpn 10 ipsec-manual
 set peer 192.0.2.2
 match address 101
 set transform-set GCM
 set session-key inbound esp 300 cipher 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324
 set session-key outbound esp 301 cipher 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324
crypto map vpn 20 ipsec-isakmp
 set peer 198.51.100.2
 match address 102
 set transform-set GCM
interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
 crypto map vpn
ip route 0.0.0.0 0.0.0.0 192.0.2.254
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
access-list 102 permit ip 10.1.0.0 0.0.255.255 10.3.0.0 0.0.255.255
";

    fn cfg(text: &str) -> Config {
        let c = config::check(text);
        assert!(!c.diagnostics.has_errors(), "{:?}", c.diagnostics);
        c.config
    }

    fn key(m: &str, s: u32) -> EntryKey {
        (m.to_string(), s)
    }

    #[test]
    fn identical_configurations_change_nothing() {
        let d = diff(&cfg(BASE), &cfg(BASE));
        assert_eq!(d.unchanged.len(), 2);
        assert!(d.changed.is_empty() && d.added.is_empty() && d.removed.is_empty());
        assert!(d.restart_needed.is_empty());
    }

    #[test]
    fn a_static_route_or_an_unrelated_acl_touches_no_entry() {
        let more = format!(
            "{BASE}ip route 10.9.0.0 255.255.0.0 192.0.2.254\naccess-list 150 permit ip any any\n"
        );
        let d = diff(&cfg(BASE), &cfg(&more));
        assert_eq!(d.unchanged.len(), 2);
        assert!(d.changed.is_empty());
    }

    #[test]
    fn only_the_entry_whose_acl_changed_is_changed() {
        let edited = BASE.replace(
            "access-list 102 permit ip 10.1.0.0 0.0.255.255 10.3.0.0 0.0.255.255",
            "access-list 102 permit ip 10.1.0.0 0.0.255.255 10.4.0.0 0.0.255.255",
        );
        let d = diff(&cfg(BASE), &cfg(&edited));
        assert_eq!(d.changed, [key("vpn", 20)]);
        assert!(d.unchanged.contains(&key("vpn", 10)));
    }

    #[test]
    fn ike_settings_change_ike_entries_only() {
        let edited = format!("{BASE}crypto ikev2 keyring K\n peer any\n  address 0.0.0.0 0.0.0.0\n  pre-shared-key secret\n");
        let d = diff(&cfg(BASE), &cfg(&edited));
        assert_eq!(d.changed, [key("vpn", 20)]);
        assert!(d.unchanged.contains(&key("vpn", 10)));
    }

    #[test]
    fn added_removed_and_restart_only_settings() {
        let edited = BASE
            .replace(
                "crypto map vpn 20 ipsec-isakmp",
                "crypto map vpn 30 ipsec-isakmp",
            )
            .replace(
                "interface GigabitEthernet0/1\n",
                "interface GigabitEthernet0/1\n dpdk device vdev net_ring0\n",
            );
        let d = diff(&cfg(BASE), &cfg(&edited));
        assert_eq!(d.added, [key("vpn", 30)]);
        assert_eq!(d.removed, [key("vpn", 20)]);
        assert_eq!(d.restart_needed, ["DPDK devices of interfaces"]);
        assert!(d
            .summary()
            .contains("1 unchanged, 0 changed, 1 added, 1 removed"));
    }

    #[test]
    fn readdressing_the_interface_changes_every_entry_of_its_map() {
        let edited = BASE.replace("ip address 192.0.2.1", "ip address 192.0.2.7");
        let d = diff(&cfg(BASE), &cfg(&edited));
        assert_eq!(d.changed.len(), 2);
    }
}
