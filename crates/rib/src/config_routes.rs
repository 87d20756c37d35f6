//! Connected and static routes from the configuration.

use rustc_hash::FxHashMap;

use config::Config;

use crate::{IfIndex, Names, Prefix, Rib, Route, Source, VrfId};

/// What identifies a configured route: IOS replaces a static route with the same prefix and
/// next hop (or interface), and a connected route belongs to its interface and subnet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Connected(IfIndex, Prefix),
    Static(VrfId, Prefix, Option<std::net::Ipv4Addr>, Option<IfIndex>),
}

/// Keeps the RIB's connected and static routes equal to what a configuration says, touching
/// only the routes a new configuration changes.
#[derive(Debug, Clone, Default)]
pub struct ConfigRoutes {
    owners: FxHashMap<Key, u32>,
    next_owner: u32,
    installed: FxHashMap<Key, (VrfId, Prefix, Route)>,
}

impl ConfigRoutes {
    /// Applies `config`: adds, changes and removes connected and static routes.
    pub fn apply(&mut self, config: &Config, names: &mut Names, rib: &mut Rib) {
        let mut desired: FxHashMap<Key, (VrfId, Prefix, Route)> = FxHashMap::default();
        for iface in &config.interfaces {
            if iface.shutdown {
                continue;
            }
            let index = names.interface(&iface.name.value);
            let vrf = names.vrf(iface.vrf.as_ref().map(|v| v.name.as_str()));
            let addresses = iface.address.iter().chain(&iface.secondary_addresses);
            for addr in addresses {
                let subnet = addr.subnet();
                let key = Key::Connected(index, subnet);
                let route = Route {
                    source: Source::Connected,
                    owner: self.owner(&key),
                    distance: 0,
                    metric: 0,
                    tag: 0,
                    next_hop: None,
                    interface: Some(index),
                };
                desired.insert(key, (vrf, subnet, route));
            }
        }
        for r in &config.static_routes {
            let vrf = names.vrf(r.vrf.as_deref());
            let interface = r.interface.as_deref().map(|i| names.interface(i));
            let key = Key::Static(vrf, r.prefix, r.next_hop, interface);
            let route = Route {
                source: Source::Static,
                owner: self.owner(&key),
                distance: r.distance.unwrap_or(1),
                metric: 0,
                tag: r.tag.unwrap_or(0),
                next_hop: r.next_hop,
                interface,
            };
            desired.insert(key, (vrf, r.prefix, route));
        }
        let gone: Vec<Key> = self
            .installed
            .keys()
            .filter(|k| !desired.contains_key(k))
            .cloned()
            .collect();
        for key in gone {
            let (vrf, prefix, route) = self.installed.remove(&key).expect("listed");
            rib.remove(vrf, prefix, route.source, route.owner);
            self.owners.remove(&key);
        }
        for (key, value) in desired {
            if self.installed.get(&key) != Some(&value) {
                let (vrf, prefix, route) = value;
                rib.upsert(vrf, prefix, route);
                self.installed.insert(key, value);
            }
        }
    }

    fn owner(&mut self, key: &Key) -> u32 {
        if let Some(o) = self.owners.get(key) {
            return *o;
        }
        let o = self.next_owner;
        self.next_owner += 1;
        self.owners.insert(key.clone(), o);
        o
    }
}
