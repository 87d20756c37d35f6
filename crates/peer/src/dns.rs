//! Peer names resolved through the configured name servers with hickory-resolver.
//!
//! `ip name-server A[:PORT]...` gives the servers, in order; `ip domain name` is appended to
//! names without a dot before they get here ([`crate::qualify`]), and every name is then
//! looked up as written (no search list). Answers are cached for their TTL and no longer,
//! so a dynamic peer's next lookup after the TTL sees a changed record. With `ip
//! dns-resolver dnssec required`, answers are validated from the configured trust anchors
//! and only a Secure one is accepted: an unsigned (Insecure) or Bogus answer fails the lookup
//! with a line that says so.

use crate::entry::Answer;
use config::model::Config;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::dnssec::{DnssecSummary, TrustAnchors};
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the resolver is set up with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// Servers and their ports, in order.
    pub servers: Vec<(Ipv4Addr, u16)>,
    /// Accept only DNSSEC-validated answers.
    pub dnssec_required: bool,
    /// Trust anchors: DNSKEY records in zone-file text.
    pub trust_anchors: Vec<String>,
    /// How long to wait for one server.
    pub timeout: Duration,
}

/// A resolver that cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum DnsSetupError {
    /// `ip dns-resolver trust-anchor FILE` could not be read.
    #[error("trust anchor {path}: {error}")]
    AnchorFile {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The trust anchor text is not DNSKEY records.
    #[error("trust anchor: {0}")]
    AnchorSyntax(String),
    /// Validation required without a trust anchor to validate from.
    #[error("'ip dns-resolver dnssec required' needs 'ip dns-resolver trust-anchor FILE'")]
    NoAnchor,
    /// No name server configured.
    #[error("no 'ip name-server' configured")]
    NoServer,
    /// hickory refused the configuration.
    #[error("resolver: {0}")]
    Resolver(String),
}

impl DnsSettings {
    /// From `ip name-server` and `ip dns-resolver` lines, reading the trust anchor files.
    pub fn from_config(config: &Config) -> Result<Self, DnsSetupError> {
        let mut trust_anchors = Vec::new();
        for path in &config.dns_resolver.trust_anchors {
            let text = std::fs::read_to_string(&path.value).map_err(|error| {
                DnsSetupError::AnchorFile {
                    path: path.value.clone(),
                    error,
                }
            })?;
            trust_anchors.push(text);
        }
        Ok(DnsSettings {
            servers: config
                .name_servers
                .iter()
                .map(|s| (s.value.address, s.value.port))
                .collect(),
            dnssec_required: config
                .dns_resolver
                .dnssec_required
                .as_ref()
                .is_some_and(|r| r.value),
            trust_anchors,
            timeout: Duration::from_secs(2),
        })
    }
}

/// Parses DNSKEY records (as `keymgr ... dnskey` or `dig DNSKEY` print them, with or
/// without the class) into trust anchors.
pub fn parse_trust_anchors(texts: &[String]) -> Result<TrustAnchors, DnsSetupError> {
    let mut normalized = String::new();
    for text in texts {
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = fields.iter().position(|f| f.eq_ignore_ascii_case("DNSKEY")) else {
                continue;
            };
            // Owner [TTL] [class] DNSKEY flags protocol algorithm key...: add the class
            // where it is missing (hickory's parser wants it).
            let has_class = fields[..at].iter().any(|f| f.eq_ignore_ascii_case("IN"));
            let mut owner = fields[0].to_string();
            if !owner.ends_with('.') {
                owner.push('.');
            }
            normalized.push_str(&owner);
            for f in &fields[1..at] {
                normalized.push(' ');
                normalized.push_str(f);
            }
            if !has_class {
                normalized.push_str(" IN");
            }
            for f in &fields[at..] {
                normalized.push(' ');
                normalized.push_str(f);
            }
            normalized.push('\n');
        }
    }
    if normalized.is_empty() {
        return Err(DnsSetupError::AnchorSyntax("no DNSKEY record".into()));
    }
    TrustAnchors::from_str(&normalized).map_err(|e| DnsSetupError::AnchorSyntax(e.to_string()))
}

/// A lookup's result, its validity relative to when it was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Every IPv4 address returned.
    pub addrs: Vec<Ipv4Addr>,
    /// How long the answer may be used (its TTL, less what a cache already used up).
    pub ttl: Duration,
    /// Whether it was DNSSEC-validated.
    pub secure: bool,
}

impl Resolution {
    /// As an [`Answer`] received at `now_ns`.
    pub fn at(self, now_ns: u64) -> Answer {
        Answer {
            addrs: self.addrs,
            resolved_ns: now_ns,
            valid_until_ns: now_ns.saturating_add(self.ttl.as_nanos() as u64),
            secure: self.secure,
        }
    }
}

/// Looks peer names up.
#[derive(Clone)]
pub struct PeerResolver {
    resolver: Arc<TokioResolver>,
    dnssec_required: bool,
}

impl std::fmt::Debug for PeerResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerResolver")
            .field("dnssec_required", &self.dnssec_required)
            .finish_non_exhaustive()
    }
}

impl PeerResolver {
    /// A resolver for `settings`. Call from within a Tokio runtime.
    pub fn new(settings: &DnsSettings) -> Result<Self, DnsSetupError> {
        if settings.servers.is_empty() {
            return Err(DnsSetupError::NoServer);
        }
        let servers = settings
            .servers
            .iter()
            .map(|&(addr, port)| {
                let mut udp = ConnectionConfig::udp();
                udp.port = port;
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = port;
                NameServerConfig::new(IpAddr::V4(addr), true, vec![udp, tcp])
            })
            .collect();
        let mut opts = ResolverOpts::default();
        opts.timeout = settings.timeout;
        opts.attempts = 1;
        opts.ndots = 0;
        let mut builder = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
        .with_options(opts);
        if settings.dnssec_required {
            if settings.trust_anchors.is_empty() {
                return Err(DnsSetupError::NoAnchor);
            }
            let anchors = parse_trust_anchors(&settings.trust_anchors)?;
            builder = builder.with_trust_anchor(Arc::new(anchors));
        }
        let resolver = builder
            .build()
            .map_err(|e| DnsSetupError::Resolver(e.to_string()))?;
        Ok(PeerResolver {
            resolver: Arc::new(resolver),
            dnssec_required: settings.dnssec_required,
        })
    }

    /// Whether only validated answers are accepted.
    pub fn dnssec_required(&self) -> bool {
        self.dnssec_required
    }

    /// [`PeerResolver::resolve`] with the answer's times on the caller's clock (`now_ns`
    /// when the lookup was started).
    pub async fn lookup(&self, name: &str, now_ns: u64) -> Result<Answer, String> {
        self.resolve(name).await.map(|r| r.at(now_ns))
    }

    /// The IPv4 addresses of `name` (fully qualified, without the trailing dot) and how
    /// long they may be used. The error says why, in words fit for a log line.
    pub async fn resolve(&self, name: &str) -> Result<Resolution, String> {
        let asked = Instant::now();
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let lookup = self
            .resolver
            .lookup(fqdn.as_str(), RecordType::A)
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        let addrs: Vec<Ipv4Addr> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect();
        if addrs.is_empty() {
            return Err(format!("{name}: no IPv4 address"));
        }
        let secure = if self.dnssec_required {
            match DnssecSummary::from_records(lookup.answers().iter()) {
                DnssecSummary::Secure => true,
                DnssecSummary::Insecure => {
                    return Err(format!(
                        "{name}: answer is not DNSSEC-signed (insecure) and validation is required"
                    ))
                }
                DnssecSummary::Bogus => {
                    return Err(format!("{name}: answer failed DNSSEC validation (bogus)"))
                }
            }
        } else {
            false
        };
        Ok(Resolution {
            addrs,
            ttl: lookup.valid_until().saturating_duration_since(asked),
            secure,
        })
    }
}
