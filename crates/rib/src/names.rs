//! Interned names of VRFs and interfaces.

use rustc_hash::FxHashMap;

use crate::{IfIndex, VrfId};

/// VRF and interface names and their ids. The global table is VRF 0 with no name.
#[derive(Debug, Clone)]
pub struct Names {
    vrfs: Vec<String>,
    vrf_ids: FxHashMap<String, VrfId>,
    interfaces: Vec<String>,
    interface_ids: FxHashMap<String, IfIndex>,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            vrfs: vec![String::new()],
            vrf_ids: FxHashMap::default(),
            interfaces: Vec::new(),
            interface_ids: FxHashMap::default(),
        }
    }
}

impl Names {
    /// The id of a VRF (`None` is the global table), creating it if new.
    pub fn vrf(&mut self, name: Option<&str>) -> VrfId {
        let Some(name) = name else {
            return VrfId::GLOBAL;
        };
        if let Some(id) = self.vrf_ids.get(name) {
            return *id;
        }
        let id = VrfId(u16::try_from(self.vrfs.len()).expect("fewer than 65536 VRFs"));
        self.vrfs.push(name.to_string());
        self.vrf_ids.insert(name.to_string(), id);
        id
    }

    /// The id of an existing VRF.
    pub fn find_vrf(&self, name: Option<&str>) -> Option<VrfId> {
        match name {
            None => Some(VrfId::GLOBAL),
            Some(n) => self.vrf_ids.get(n).copied(),
        }
    }

    /// A VRF's name (`None` for the global table).
    pub fn vrf_name(&self, id: VrfId) -> Option<&str> {
        if id == VrfId::GLOBAL {
            None
        } else {
            self.vrfs.get(usize::from(id.0)).map(String::as_str)
        }
    }

    /// The id of an interface, creating it if new.
    pub fn interface(&mut self, name: &str) -> IfIndex {
        if let Some(id) = self.interface_ids.get(name) {
            return *id;
        }
        let id = IfIndex(u32::try_from(self.interfaces.len()).expect("fewer than 2^32 interfaces"));
        self.interfaces.push(name.to_string());
        self.interface_ids.insert(name.to_string(), id);
        id
    }

    /// An interface's name.
    pub fn interface_name(&self, id: IfIndex) -> &str {
        self.interfaces
            .get(id.0 as usize)
            .map_or("?", String::as_str)
    }
}
