//! Routing: `router` processes (redistribution, networks), route maps and VRF definitions.

use super::*;

impl Parser {
    pub(super) fn router_header(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let start = c.prev_span();
        let protocol = routing_protocol(c, &["ospf", "bgp", "eigrp", "rip"])?;
        c.end()?;
        let index = match self
            .config
            .routers
            .iter()
            .position(|r| r.protocol == protocol)
        {
            Some(i) => i,
            None => {
                self.config.routers.push(RouterProcess {
                    protocol,
                    router_id: None,
                    redistribute: Vec::new(),
                    networks: Vec::new(),
                    neighbors: Vec::new(),
                    span: start,
                });
                self.config.routers.len() - 1
            }
        };
        self.stack.push(Mode::Router(index));
        Ok(())
    }

    pub(super) fn route_map_header(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let name = c.word("a route-map name")?;
        let action = match c.opt_keyword(&["permit", "deny"]) {
            Some(a) if a.value == "deny" => Action::Deny,
            _ => Action::Permit,
        };
        let seq = if c.at_end() {
            Spanned::new(10, name.span)
        } else {
            c.number("sequence number", 0u32, 65535)?
        };
        c.end()?;
        self.config
            .route_maps
            .entry(name.value.clone())
            .or_default()
            .entry(seq.value)
            .or_insert_with(|| RouteMapEntry {
                action,
                seq,
                match_tags: Vec::new(),
                match_ip_address: Vec::new(),
                set_metric: None,
                set_metric_type: None,
                set_tag: None,
                span: name.span,
            })
            .action = action;
        self.stack.push(Mode::RouteMap(name.value, seq.value));
        Ok(())
    }

    pub(super) fn vrf_header(&mut self, name: Spanned<String>, style: VrfStyle) {
        let key = name.value.clone();
        self.config.vrfs.entry(key.clone()).or_insert_with(|| Vrf {
            span: name.span,
            name,
            style,
            rd: None,
            route_targets: Vec::new(),
        });
        self.stack.push(Mode::Vrf(key));
    }
}

pub(super) fn routing_protocol(
    c: &mut Cursor<'_, '_>,
    choices: &[&'static str],
) -> Parsed<RoutingProtocol> {
    let p = c.keyword("a routing protocol", choices)?;
    Ok(match p.value {
        "ospf" => RoutingProtocol::Ospf(c.number("OSPF process id", 1u32, 65535)?.value),
        "bgp" => RoutingProtocol::Bgp(c.number("AS number", 1u32, u32::MAX)?.value),
        "eigrp" => RoutingProtocol::Eigrp(c.number("AS number", 1u32, 65535)?.value),
        "rip" => RoutingProtocol::Rip,
        _ => unreachable!("choices are protocols"),
    })
}

pub(super) fn router_command(r: &mut RouterProcess, line: &Line<'_>) -> Parsed<()> {
    let mut c = Cursor::new(line);
    let kw = c.keyword(
        "a router command",
        &["redistribute", "network", "neighbor", "router-id"],
    )?;
    match kw.value {
        "redistribute" => {
            let start = c.here();
            let source = match c.opt_keyword(&["static", "connected"]) {
                Some(s) if s.value == "static" => RedistributeSource::Static,
                Some(_) => RedistributeSource::Connected,
                None => RedistributeSource::Protocol(routing_protocol(
                    &mut c,
                    &["static", "connected", "ospf", "bgp", "eigrp", "rip"],
                )?),
            };
            let mut red = Redistribute {
                source,
                metric: None,
                metric_type: None,
                subnets: false,
                tag: None,
                route_map: None,
            };
            const OPTS: &[&str] = &["metric", "metric-type", "subnets", "tag", "route-map"];
            while let Some(opt) = c.opt_keyword(OPTS) {
                match opt.value {
                    "metric" => red.metric = Some(c.number("metric", 0u32, u32::MAX)?.value),
                    "metric-type" => red.metric_type = Some(c.number("metric type", 1u8, 2)?.value),
                    "subnets" => red.subnets = true,
                    "tag" => red.tag = Some(c.number("tag", 0u32, u32::MAX)?.value),
                    _ => red.route_map = Some(c.word("a route-map name")?),
                }
            }
            c.end_or("a redistribute option", OPTS)?;
            r.redistribute
                .push(Spanned::new(red, start.to(c.prev_span())));
        }
        "network" => r.networks.push(c.rest("a network statement")?),
        "neighbor" => r.neighbors.push(c.rest("a neighbor statement")?),
        _ => {
            r.router_id = Some(c.ipv4("router id")?);
            c.end()?;
        }
    }
    Ok(())
}

pub(super) fn route_map_command(
    e: &mut RouteMapEntry,
    line: &Line<'_>,
    warnings: &mut Vec<Diagnostic>,
) -> Parsed<()> {
    let mut c = Cursor::new(line);
    let kw = c.keyword("'match' or 'set'", &["match", "set"])?;
    if kw.value == "match" {
        let k = c.keyword("'tag' or 'ip'", &["tag", "ip"])?;
        if k.value == "tag" {
            loop {
                e.match_tags.push(c.number("tag", 0u32, u32::MAX)?);
                if c.at_end() {
                    break;
                }
            }
        } else {
            c.keyword("'address'", &["address"])?;
            loop {
                let w = c.word("an access list")?;
                e.match_ip_address
                    .push(Spanned::new(acl_name(&w.value), w.span));
                if c.at_end() {
                    break;
                }
            }
        }
        return Ok(());
    }
    let k = c.keyword(
        "'metric', 'metric-type' or 'tag'",
        &["metric", "metric-type", "tag"],
    )?;
    match k.value {
        "metric" => e.set_metric = Some(c.number("metric", 0u32, u32::MAX)?),
        "tag" => e.set_tag = Some(c.number("tag", 0u32, u32::MAX)?),
        _ => {
            let t = c.word("'type-1' or 'type-2'")?;
            let n = match t.value.to_ascii_lowercase().as_str() {
                "type-1" => 1,
                "type-2" => 2,
                "type1" | "type2" => {
                    // Cisco's route-tag example writes "type1".
                    warnings.push(Diagnostic::warning(
                        Code::NonCanonicalSpelling,
                        t.span,
                        format!(
                            "'{}' is written 'type-{}'; read as that",
                            t.value,
                            &t.value[4..]
                        ),
                    ));
                    if t.value.ends_with('1') {
                        1
                    } else {
                        2
                    }
                }
                _ => {
                    return Err(unexpected(
                        t.span,
                        &t.value,
                        "a metric type",
                        &["type-1", "type-2"],
                    ))
                }
            };
            e.set_metric_type = Some(Spanned::new(n, t.span));
        }
    }
    c.end()
}
