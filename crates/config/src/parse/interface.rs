//! Interfaces: `interface NAME` and what an interface block holds (addresses, VRF, crypto
//! map, MTU, DPDK device), and interface names written canonically.

use super::*;

impl Parser {
    pub(super) fn interface_header(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let first = c.word("an interface name")?;
        let mut name = first.value.clone();
        let mut span = first.span;
        // "interface FastEthernet 0/0": IOS accepts the number as a separate word.
        if !name.bytes().any(|b| b.is_ascii_digit()) && c.next_is_number_like() {
            let num = c.word("an interface number")?;
            name.push_str(&num.value);
            span = span.to(num.span);
        }
        let name = Spanned::new(canonical_interface(&name), span);
        let type_tunnel = if c.opt_keyword(&["type"]).is_some() {
            c.keyword("'tunnel'", &["tunnel"])?;
            true
        } else {
            false
        };
        c.end()?;
        let index = match self
            .config
            .interfaces
            .iter()
            .position(|i| i.name.value == name.value)
        {
            Some(i) => i,
            None => {
                self.config.interfaces.push(Interface::new(name));
                self.config.interfaces.len() - 1
            }
        };
        self.config.interfaces[index].type_tunnel |= type_tunnel;
        self.stack.push(Mode::Interface(index));
        Ok(())
    }

    pub(super) fn interface_command(&mut self, index: usize, line: &Line<'_>) -> Parsed<()> {
        let mut c = Cursor::new(line);
        let kw = c.keyword("an interface command", Mode::Interface(0).keywords())?;
        let mut warnings = Vec::new();
        let iface = &mut self.config.interfaces[index];
        match kw.value {
            "description" => iface.description = Some(c.rest("a description")?),
            "ip" => {
                let sub = c.keyword(
                    "an interface ip command",
                    &["address", "unnumbered", "vrf", "mtu"],
                )?;
                match sub.value {
                    "address" => {
                        let addr = c.ipv4("interface address")?;
                        let len = if c.at_end() {
                            // Cisco's real-time resolution example omits the mask.
                            let len = classful_len(addr.value);
                            warnings.push(Diagnostic::warning(
                                Code::MissingValueAssumed,
                                c.here(),
                                format!(
                                    "'ip address' without a mask: assuming the classful mask {}",
                                    Ipv4Addr::from(mask_bits(len))
                                ),
                            ));
                            Spanned::new(len, addr.span)
                        } else {
                            c.mask("interface mask")?
                        };
                        let secondary = c.opt_keyword(&["secondary"]).is_some();
                        c.end()?;
                        let value = Spanned::new(
                            InterfaceAddress {
                                addr: addr.value,
                                len: len.value,
                            },
                            addr.span.to(len.span),
                        );
                        if secondary {
                            iface.secondary_addresses.push(value);
                        } else {
                            iface.address = Some(value);
                        }
                    }
                    "unnumbered" => {
                        let target = if c.at_end() {
                            warnings.push(Diagnostic::warning(
                                Code::MissingValueAssumed,
                                c.here(),
                                "'ip unnumbered' without an interface: the interface borrows no address",
                            ));
                            Spanned::new(None, sub.span)
                        } else {
                            let w = c.word("an interface")?;
                            Spanned::new(Some(canonical_interface(&w.value)), w.span)
                        };
                        c.end()?;
                        iface.unnumbered = Some(target);
                    }
                    "vrf" => {
                        c.keyword("'forwarding'", &["forwarding"])?;
                        let name = c.word("a VRF name")?;
                        c.end()?;
                        iface.vrf = Some(Spanned::new(
                            VrfBinding {
                                name: name.value,
                                legacy: true,
                            },
                            name.span,
                        ));
                    }
                    "mtu" => {
                        iface.ip_mtu = Some(c.number("ip mtu", 68u16, 9216)?);
                        c.end()?;
                    }
                    _ => unreachable!(),
                }
            }
            "crypto" => {
                c.keyword("'map'", &["map"])?;
                let name = c.word("a crypto map name")?;
                let mut value = InterfaceCryptoMap {
                    name: name.value,
                    redundancy: None,
                    stateful: false,
                };
                if c.opt_keyword(&["redundancy"]).is_some() {
                    value.redundancy = Some(c.word("a standby group name")?.value);
                    value.stateful = c.opt_keyword(&["stateful"]).is_some();
                }
                c.end()?;
                iface.crypto_map = Some(Spanned::new(value, name.span));
            }
            "standby" => iface.standby.push(c.rest("a standby command")?),
            "vrf" => {
                c.keyword("'forwarding'", &["forwarding"])?;
                let name = c.word("a VRF name")?;
                c.end()?;
                iface.vrf = Some(Spanned::new(
                    VrfBinding {
                        name: name.value,
                        legacy: false,
                    },
                    name.span,
                ));
            }
            "tunnel" => {
                let sub = c.keyword(
                    "a tunnel command",
                    &["mode", "protection", "source", "destination"],
                )?;
                match sub.value {
                    "mode" => {
                        let m = c.keyword("'ipsec' or 'gre'", &["ipsec", "gre"])?;
                        let mode = if m.value == "ipsec" {
                            c.keyword("'ipv4'", &["ipv4"])?;
                            TunnelMode::IpsecIpv4
                        } else {
                            c.keyword("'ip'", &["ip"])?;
                            TunnelMode::GreIp
                        };
                        c.end()?;
                        iface.tunnel_mode = Some(Spanned::new(mode, m.span));
                    }
                    "protection" => {
                        c.keyword("'ipsec'", &["ipsec"])?;
                        c.keyword("'profile'", &["profile"])?;
                        let name = c.word("an IPsec profile name")?;
                        c.end()?;
                        iface.tunnel_protection = Some(name);
                    }
                    "source" => {
                        let w = c.word("a source interface or address")?;
                        c.end()?;
                        let v = if w.value.parse::<Ipv4Addr>().is_ok() {
                            w.value.clone()
                        } else {
                            canonical_interface(&w.value)
                        };
                        iface.tunnel_source = Some(Spanned::new(v, w.span));
                    }
                    _ => {
                        iface.tunnel_destination = Some(c.ipv4("tunnel destination")?);
                        c.end()?;
                    }
                }
            }
            "shutdown" => {
                c.end()?;
                iface.shutdown = true;
            }
            "no" => {
                let what = c.keyword("'shutdown' or 'ip address'", &["shutdown", "ip"])?;
                if what.value == "ip" {
                    c.keyword("'address'", &["address"])?;
                    iface.address = None;
                    iface.secondary_addresses.clear();
                } else {
                    iface.shutdown = false;
                }
                c.end()?;
            }
            "mtu" => {
                iface.mtu = Some(c.number("mtu", 64u16, 9216)?);
                c.end()?;
            }
            "mac-address" => {
                let w = c.word("a MAC address (HHHH.HHHH.HHHH)")?;
                c.end()?;
                let mac = parse_mac(&w.value).ok_or_else(|| {
                    Box::new(Diagnostic::error(
                        Code::InvalidValue,
                        w.span,
                        format!("invalid MAC address '{}': expected HHHH.HHHH.HHHH", w.value),
                    ))
                })?;
                iface.mac_address = Some(Spanned::new(mac, w.span));
            }
            "dpdk" => {
                c.keyword("'device'", &["device"])?;
                let kind = c.keyword("'vdev' or 'pci'", &["vdev", "pci"])?;
                let spec = c.word("a device")?;
                c.end()?;
                let dev = if kind.value == "vdev" {
                    DpdkDevice::Vdev(spec.value)
                } else {
                    DpdkDevice::Pci(spec.value)
                };
                iface.dpdk_device = Some(Spanned::new(dev, spec.span));
            }
            _ => unreachable!(),
        }
        self.diagnostics.extend(warnings);
        Ok(())
    }

    // ---------------------------------------------------------------- access lists
}

pub(super) const INTERFACE_TYPES: &[&str] = &[
    "FastEthernet",
    "GigabitEthernet",
    "TenGigabitEthernet",
    "Ethernet",
    "Serial",
    "Loopback",
    "Tunnel",
    "Virtual-Template",
    "Virtual-Access",
    "Vlan",
    "Dialer",
    "Port-channel",
];

/// The canonical spelling of an interface name: the type written out in IOS's case
/// (`fa0/0` and `FASTETHERNET0/0` are `FastEthernet0/0`); unknown types are kept as written.
pub fn canonical_interface(name: &str) -> String {
    let split = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    let (kind, number) = name.split_at(split);
    if kind.is_empty() || number.is_empty() {
        return name.to_string();
    }
    match is_keyword(kind, INTERFACE_TYPES) {
        Some(full) => format!("{full}{number}"),
        None => name.to_string(),
    }
}

pub(super) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let hex: String = s
        .chars()
        .filter(|c| *c != '.' && *c != ':' && *c != '-')
        .collect();
    if hex.len() != 12 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(mac)
}

pub(super) fn lcore_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
                if a > b || b > 1023 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse::<u32>().ok().filter(|&n| n <= 1023)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    (!out.is_empty()).then_some(out)
}
