//! Access lists: numbered and named, standard and extended, their entries (addresses,
//! wildcards, ports and ICMP types by number or IOS name).

use super::*;

impl Parser {
    pub(super) fn numbered_acl(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let num = c.number("access list number", 1u32, 2699)?;
        let kind = match num.value {
            1..=99 | 1300..=1999 => AclKind::Standard,
            100..=199 | 2000..=2699 => AclKind::Extended,
            _ => {
                return err(Diagnostic::error(
                    Code::InvalidValue,
                    num.span,
                    format!(
                        "access list {} is not an IP access list: standard lists are 1-99 and \
                         1300-1999, extended 100-199 and 2000-2699",
                        num.value
                    ),
                ))
            }
        };
        let name = AclName::Number(num.value);
        if let Some(existing) = self.config.access_lists.get_mut(&name) {
            return Self::acl_line(existing, c, None);
        }
        // The list exists only once a line of it parses.
        let mut acl = AccessList {
            name: name.clone(),
            kind,
            entries: Vec::new(),
            remarks: Vec::new(),
            span: num.span,
        };
        Self::acl_line(&mut acl, c, None)?;
        self.config.access_lists.insert(name, acl);
        Ok(())
    }

    pub(super) fn acl_entry_point(
        &mut self,
        name: AclName,
        kind: AclKind,
        span: Span,
    ) -> &mut AccessList {
        self.config
            .access_lists
            .entry(name.clone())
            .or_insert_with(|| AccessList {
                name,
                kind,
                entries: Vec::new(),
                remarks: Vec::new(),
                span,
            })
    }

    pub(super) fn named_acl_header(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let kind = c.keyword("'standard' or 'extended'", &["standard", "extended"])?;
        let name = c.word("an access list name")?;
        c.end()?;
        let kind = if kind.value == "standard" {
            AclKind::Standard
        } else {
            AclKind::Extended
        };
        let acl_name =
            match name.value.parse::<u32>() {
                Ok(n) => {
                    let standard = matches!(n, 1..=99 | 1300..=1999);
                    let extended = matches!(n, 100..=199 | 2000..=2699);
                    if (kind == AclKind::Standard && !standard)
                        || (kind == AclKind::Extended && !extended)
                    {
                        return err(Diagnostic::error(
                            Code::InvalidValue,
                            name.span,
                            format!(
                            "access list number {n} is outside the {} ranges (standard 1-99 and \
                             1300-1999, extended 100-199 and 2000-2699)",
                            if standard || extended { "matching" } else { "IP" }
                        ),
                        ));
                    }
                    AclName::Number(n)
                }
                Err(_) => AclName::Name(name.value.clone()),
            };
        let acl = self.acl_entry_point(acl_name.clone(), kind, name.span);
        if acl.kind != kind {
            return err(Diagnostic::error(
                Code::Inconsistent,
                name.span,
                format!("access list {} exists with the other kind", name.value),
            ));
        }
        self.stack.push(Mode::AccessList(acl_name));
        Ok(())
    }

    pub(super) fn acl_line(
        acl: &mut AccessList,
        c: &mut Cursor<'_, '_>,
        seq: Option<u32>,
    ) -> Parsed<()> {
        let start = c.here();
        let action = c.keyword(
            "'permit', 'deny' or 'remark'",
            &["permit", "deny", "remark"],
        )?;
        if action.value == "remark" {
            acl.remarks.push(c.rest("a remark")?);
            return Ok(());
        }
        let action = if action.value == "permit" {
            Action::Permit
        } else {
            Action::Deny
        };
        let entry = match acl.kind {
            AclKind::Standard => {
                let src = addr_match(c, "source")?;
                let log = c.opt_keyword(&["log"]).is_some();
                c.end()?;
                AclEntry {
                    seq,
                    action,
                    protocol: Protocol::Ip,
                    src,
                    src_port: None,
                    dst: AddrMatch::Any,
                    dst_port: None,
                    icmp: None,
                    log,
                }
            }
            AclKind::Extended => extended_entry(c, seq, action)?,
        };
        let span = start.to(c.prev_span());
        acl.entries.push(Spanned::new(entry, span));
        Ok(())
    }

    // ---------------------------------------------------------------- crypto
}

pub(super) fn prefix(c: &mut Cursor<'_, '_>, what: &str) -> Parsed<Prefix> {
    let addr = c.ipv4(what)?;
    let len = c.mask("mask")?;
    let network = u32::from(addr.value) & mask_bits(len.value);
    if network != u32::from(addr.value) {
        return err(Diagnostic::error(
            Code::InvalidValue,
            addr.span.to(len.span),
            format!(
                "inconsistent address and mask: {} has host bits set for mask {} (the network is {})",
                addr.value,
                Ipv4Addr::from(mask_bits(len.value)),
                Ipv4Addr::from(network)
            ),
        ));
    }
    Ok(Prefix {
        addr: addr.value,
        len: len.value,
    })
}

pub(super) fn addr_match(c: &mut Cursor<'_, '_>, what: &str) -> Parsed<AddrMatch> {
    if c.opt_keyword(&["any"]).is_some() {
        return Ok(AddrMatch::Any);
    }
    if c.opt_keyword(&["host"]).is_some() {
        return Ok(AddrMatch::Host(c.ipv4(what)?.value));
    }
    if !c.next_is_ipv4() {
        let t = c.peek();
        return match t {
            Some(t) => Err(unexpected(
                t.span,
                t.text,
                &format!("a {what}: any, host A, or A WILDCARD"),
                &["any", "host"],
            )),
            None => err(Diagnostic::error(
                Code::Incomplete,
                c.here(),
                format!("incomplete command: expected a {what} (any, host A, or A WILDCARD)"),
            )),
        };
    }
    let addr = c.ipv4(what)?.value;
    if !c.next_is_ipv4() {
        // A standard list may give a single address: a host.
        return Ok(AddrMatch::Host(addr));
    }
    let wild = c.ipv4("wildcard")?.value;
    Ok(AddrMatch::Wildcard(
        Ipv4Addr::from(u32::from(addr) & !u32::from(wild)),
        wild,
    ))
}

pub(super) fn extended_entry(
    c: &mut Cursor<'_, '_>,
    seq: Option<u32>,
    action: Action,
) -> Parsed<AclEntry> {
    const PROTOS: &[&str] = &["ip", "icmp", "tcp", "udp", "gre", "esp", "ahp"];
    let protocol = if c.next_is_number() {
        let n = c.number("protocol number", 0u8, 255)?.value;
        match n {
            0 | 4 => Protocol::Ip,
            1 => Protocol::Icmp,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            47 => Protocol::Gre,
            50 => Protocol::Esp,
            51 => Protocol::Ahp,
            n => Protocol::Number(n),
        }
    } else {
        match c.keyword("a protocol", PROTOS)?.value {
            "ip" => Protocol::Ip,
            "icmp" => Protocol::Icmp,
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "gre" => Protocol::Gre,
            "esp" => Protocol::Esp,
            _ => Protocol::Ahp,
        }
    };
    let src = addr_match(c, "source")?;
    let src_port = if protocol.has_ports() {
        port_match(c)?
    } else {
        None
    };
    let dst = addr_match(c, "destination")?;
    let dst_port = if protocol.has_ports() {
        port_match(c)?
    } else {
        None
    };
    let icmp = if protocol == Protocol::Icmp
        && !c.at_end()
        && c.peek()
            .is_some_and(|t| !t.text.eq_ignore_ascii_case("log"))
    {
        Some(icmp_type(c)?)
    } else {
        None
    };
    let log = c.opt_keyword(&["log", "log-input"]).is_some();
    c.end_or("'log' or the end of the entry", &["log"])?;
    Ok(AclEntry {
        seq,
        action,
        protocol,
        src,
        src_port,
        dst,
        dst_port,
        icmp,
        log,
    })
}

pub(super) const PORT_NAMES: &[(&str, u16)] = &[
    ("bgp", 179),
    ("bootpc", 68),
    ("bootps", 67),
    ("domain", 53),
    ("ftp", 21),
    ("ftp-data", 20),
    ("isakmp", 500),
    ("non500-isakmp", 4500),
    ("ntp", 123),
    ("smtp", 25),
    ("snmp", 161),
    ("ssh", 22),
    ("syslog", 514),
    ("telnet", 23),
    ("tftp", 69),
    ("www", 80),
];

/// The IOS name of a well-known port.
pub(crate) fn port_name(port: u16) -> Option<&'static str> {
    PORT_NAMES.iter().find(|(_, p)| *p == port).map(|(n, _)| *n)
}

pub(super) fn port(c: &mut Cursor<'_, '_>) -> Parsed<u16> {
    let t = c.peek().ok_or_else(|| {
        Box::new(Diagnostic::error(
            Code::Incomplete,
            c.here(),
            "incomplete command: expected a port",
        ))
    })?;
    if let Ok(p) = t.text.parse::<u16>() {
        c.pos += 1;
        return Ok(p);
    }
    if let Some((_, p)) = PORT_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(t.text))
    {
        c.pos += 1;
        return Ok(*p);
    }
    let names: Vec<&'static str> = PORT_NAMES.iter().map(|(n, _)| *n).collect();
    Err(unexpected(
        t.span,
        t.text,
        "a port number (0-65535) or name",
        &names,
    ))
}

pub(super) fn port_match(c: &mut Cursor<'_, '_>) -> Parsed<Option<PortMatch>> {
    let Some(op) = c.opt_keyword(&["eq", "neq", "lt", "gt", "range"]) else {
        return Ok(None);
    };
    Ok(Some(match op.value {
        "eq" => {
            let mut ports = vec![port(c)?];
            while c.peek().is_some_and(|t| {
                t.text.parse::<u16>().is_ok()
                    || PORT_NAMES
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case(t.text))
            }) && !c.next_is_ipv4()
            {
                ports.push(port(c)?);
            }
            PortMatch::Eq(ports)
        }
        "neq" => PortMatch::Neq(port(c)?),
        "lt" => PortMatch::Lt(port(c)?),
        "gt" => PortMatch::Gt(port(c)?),
        _ => {
            let a = port(c)?;
            let b = port(c)?;
            PortMatch::Range(a, b)
        }
    }))
}

pub(super) const ICMP_NAMES: &[(&str, u8)] = &[
    ("echo-reply", 0),
    ("unreachable", 3),
    ("echo", 8),
    ("time-exceeded", 11),
];

/// The IOS name of an ICMP type.
pub(crate) fn icmp_name(t: u8) -> Option<&'static str> {
    ICMP_NAMES.iter().find(|(_, n)| *n == t).map(|(s, _)| *s)
}

pub(super) fn icmp_type(c: &mut Cursor<'_, '_>) -> Parsed<(u8, Option<u8>)> {
    if c.next_is_number() {
        let t = c.number("ICMP type", 0u8, 255)?.value;
        let code = if c.next_is_number() {
            Some(c.number("ICMP code", 0u8, 255)?.value)
        } else {
            None
        };
        return Ok((t, code));
    }
    let names: Vec<&'static str> = ICMP_NAMES.iter().map(|(n, _)| *n).collect();
    let k = c.keyword("an ICMP type", &names)?;
    let t = ICMP_NAMES
        .iter()
        .find(|(n, _)| *n == k.value)
        .map(|(_, t)| *t)
        .expect("listed");
    Ok((t, None))
}

/// An access list reference: a number if it is one, else a name.
pub(super) fn acl_name(s: &str) -> AclName {
    match s.parse::<u32>() {
        Ok(n) => AclName::Number(n),
        Err(_) => AclName::Name(s.to_string()),
    }
}

/// The classful prefix length of an address (A /8, B /16, C /24).
pub(super) fn classful_len(addr: Ipv4Addr) -> u8 {
    match addr.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}
