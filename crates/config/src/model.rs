//! The typed configuration model.
//!
//! Everything rri can be told, as parsed from IOS syntax. Items keep the span they were
//! written at; spans never take part in equality (see [`Span`](crate::Span)), so a model and
//! the model parsed from its rendering compare equal. Collections whose order IOS defines
//! (crypto map entries by sequence number, ACLs by name) are ordered maps; interfaces keep the
//! order they were written in, as on a router.

pub use secret::{SecretBytes, SecretString};
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use crate::span::{Span, Spanned};

/// A whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `hostname NAME`.
    pub hostname: Option<Spanned<String>>,
    /// `ip domain name NAME` (also `ip domain-name`).
    pub domain_name: Option<Spanned<String>>,
    /// `ip name-server ADDR[:PORT]...`, in order.
    pub name_servers: Vec<Spanned<NameServer>>,
    /// rri extension: `ip dns-resolver ...` (DNSSEC for dynamic peers).
    pub dns_resolver: DnsResolver,
    /// `ip vrf NAME` / `vrf definition NAME`.
    pub vrfs: BTreeMap<String, Vrf>,
    /// `interface NAME`, in the order written.
    pub interfaces: Vec<Interface>,
    /// `ip route ...`, in the order written.
    pub static_routes: Vec<Spanned<StaticRoute>>,
    /// `access-list N ...` and `ip access-list {standard|extended} NAME`.
    pub access_lists: BTreeMap<AclName, AccessList>,
    /// `crypto ipsec transform-set NAME ...`.
    pub transform_sets: BTreeMap<String, TransformSet>,
    /// `crypto map NAME SEQ ...`, by name.
    pub crypto_maps: BTreeMap<String, CryptoMap>,
    /// `crypto dynamic-map NAME SEQ`, by name.
    pub dynamic_maps: BTreeMap<String, DynamicMap>,
    /// `crypto ipsec profile NAME`.
    pub ipsec_profiles: BTreeMap<String, IpsecProfile>,
    /// `crypto ipsec security-association ...` and `crypto ipsec df-bit`.
    pub ipsec_global: IpsecGlobal,
    /// `crypto isakmp ...` and `crypto keyring ...` (IKEv1, kept).
    pub isakmp: Isakmp,
    /// `crypto ikev2 ...`.
    pub ikev2: Ikev2,
    /// `crypto ipsec client ezvpn NAME` (Easy VPN client, kept).
    pub ezvpn_clients: BTreeMap<String, EzvpnClient>,
    /// `router ospf N` / `router bgp N`.
    pub routers: Vec<RouterProcess>,
    /// `route-map NAME {permit|deny} SEQ`, by name then sequence.
    pub route_maps: BTreeMap<String, BTreeMap<u32, RouteMapEntry>>,
    /// rri extension: `dpdk ...` global lines.
    pub dpdk: DpdkGlobal,
    /// rri extension: `crypto peer backoff|dampening ...` (anti-flap for peer failover).
    pub peer_policy: PeerPolicy,
}

/// rri extension: how fast failover may retry and how a flapping peer is held back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerPolicy {
    /// `crypto peer backoff INITIAL-MS MAXIMUM-MS`: wait between failed attempts, doubling
    /// from the initial to the maximum, reset when a tunnel comes up.
    pub backoff: Option<Spanned<PeerBackoff>>,
    /// `crypto peer dampening HALF-LIFE REUSE SUPPRESS MAX-SUPPRESS` (as BGP dampening:
    /// seconds, penalty units, penalty units, seconds; each flap adds 1000).
    pub dampening: Option<Spanned<PeerDampening>>,
}

/// `crypto peer backoff INITIAL-MS MAXIMUM-MS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerBackoff {
    /// Milliseconds after the first failure.
    pub initial_ms: u32,
    /// The most it grows to, in milliseconds.
    pub maximum_ms: u32,
}

/// `crypto peer dampening HALF-LIFE REUSE SUPPRESS MAX-SUPPRESS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerDampening {
    /// Seconds for the penalty to halve.
    pub half_life_s: u32,
    /// Penalty below which a suppressed peer may be used again.
    pub reuse: u32,
    /// Penalty at which a peer is suppressed.
    pub suppress: u32,
    /// Longest a peer stays suppressed, in seconds.
    pub max_suppress_s: u32,
}

/// A DNS server and the UDP/TCP port it answers on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameServer {
    /// Server address.
    pub address: Ipv4Addr,
    /// Port (53 unless written as `ADDR:PORT`, an rri extension for lab servers).
    pub port: u16,
}

/// rri extension: how peer host names are resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsResolver {
    /// `ip dns-resolver dnssec required`: dynamic peers accept only DNSSEC-validated answers.
    pub dnssec_required: Option<Spanned<bool>>,
    /// `ip dns-resolver trust-anchor PATH`: DNSKEY/DS records to validate from.
    pub trust_anchors: Vec<Spanned<String>>,
}

/// A VRF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vrf {
    /// Its name.
    pub name: Spanned<String>,
    /// `ip vrf` (legacy) or `vrf definition`.
    pub style: VrfStyle,
    /// `rd ASN:NN` or `rd A.B.C.D:NN`.
    pub rd: Option<Spanned<String>>,
    /// `route-target {import|export|both} VALUE`.
    pub route_targets: Vec<Spanned<(RouteTargetDir, String)>>,
    /// Where the block starts.
    pub span: Span,
}

/// How a VRF was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrfStyle {
    /// `ip vrf NAME`.
    IpVrf,
    /// `vrf definition NAME` (with `address-family ipv4`).
    Definition,
}

/// Direction of a route target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteTargetDir {
    /// `import`.
    Import,
    /// `export`.
    Export,
    /// `both`.
    Both,
}

/// An IPv4 prefix with its mask in dotted form, as IOS writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    /// The network address (host bits zero).
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub len: u8,
}

impl Prefix {
    /// The dotted mask.
    pub fn mask(self) -> Ipv4Addr {
        Ipv4Addr::from(mask_bits(self.len))
    }

    /// Whether `addr` lies inside.
    pub fn contains(self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask_bits(self.len) == u32::from(self.addr)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// The mask of a prefix length.
pub fn mask_bits(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

/// An interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Canonical name (`FastEthernet0/0`, `Virtual-Template1`, `Loopback0`).
    pub name: Spanned<String>,
    /// `interface Virtual-Template N type tunnel`.
    pub type_tunnel: bool,
    /// `description TEXT`.
    pub description: Option<Spanned<String>>,
    /// `ip address A M`.
    pub address: Option<Spanned<InterfaceAddress>>,
    /// `ip address A M secondary`.
    pub secondary_addresses: Vec<Spanned<InterfaceAddress>>,
    /// `ip unnumbered [IF]` (the interface may be missing in a template).
    pub unnumbered: Option<Spanned<Option<String>>>,
    /// `crypto map NAME [redundancy GROUP [stateful]]`.
    pub crypto_map: Option<Spanned<InterfaceCryptoMap>>,
    /// `standby ...` (HSRP), kept as written.
    pub standby: Vec<Spanned<String>>,
    /// `vrf forwarding NAME` / `ip vrf forwarding NAME`.
    pub vrf: Option<Spanned<VrfBinding>>,
    /// `tunnel mode ipsec ipv4`.
    pub tunnel_mode: Option<Spanned<TunnelMode>>,
    /// `tunnel source IF|A`.
    pub tunnel_source: Option<Spanned<String>>,
    /// `tunnel destination A`.
    pub tunnel_destination: Option<Spanned<Ipv4Addr>>,
    /// `tunnel protection ipsec profile NAME`.
    pub tunnel_protection: Option<Spanned<String>>,
    /// `shutdown` (`no shutdown` leaves it false).
    pub shutdown: bool,
    /// `mtu N`.
    pub mtu: Option<Spanned<u16>>,
    /// `ip mtu N`.
    pub ip_mtu: Option<Spanned<u16>>,
    /// `mac-address HHHH.HHHH.HHHH`.
    pub mac_address: Option<Spanned<[u8; 6]>>,
    /// rri extension: `dpdk device {vdev SPEC | pci ADDR}`.
    pub dpdk_device: Option<Spanned<DpdkDevice>>,
    /// Where the block starts.
    pub span: Span,
}

impl Interface {
    /// An interface with nothing configured.
    pub fn new(name: Spanned<String>) -> Self {
        Interface {
            span: name.span,
            name,
            type_tunnel: false,
            description: None,
            address: None,
            secondary_addresses: Vec::new(),
            unnumbered: None,
            crypto_map: None,
            standby: Vec::new(),
            vrf: None,
            tunnel_mode: None,
            tunnel_source: None,
            tunnel_destination: None,
            tunnel_protection: None,
            shutdown: false,
            mtu: None,
            ip_mtu: None,
            mac_address: None,
            dpdk_device: None,
        }
    }
}

/// An interface address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The address.
    pub addr: Ipv4Addr,
    /// Prefix length of the mask.
    pub len: u8,
}

impl InterfaceAddress {
    /// The connected subnet.
    pub fn subnet(self) -> Prefix {
        Prefix {
            addr: Ipv4Addr::from(u32::from(self.addr) & mask_bits(self.len)),
            len: self.len,
        }
    }
}

/// A crypto map applied to an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceCryptoMap {
    /// The map.
    pub name: String,
    /// `redundancy GROUP [stateful]`: the HSRP group whose virtual address the map uses.
    pub redundancy: Option<String>,
    /// `stateful` after the group.
    pub stateful: bool,
}

/// How an interface joins a VRF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrfBinding {
    /// The VRF.
    pub name: String,
    /// Written as `ip vrf forwarding` (legacy) rather than `vrf forwarding`.
    pub legacy: bool,
}

/// `tunnel mode ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelMode {
    /// `ipsec ipv4`: a static or virtual tunnel interface.
    IpsecIpv4,
    /// `gre ip`.
    GreIp,
}

/// rri extension: the DPDK device behind an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DpdkDevice {
    /// A virtual device string as given to `--vdev` (`net_memif0,role=server,...`).
    Vdev(String),
    /// A PCI address (`0000:03:00.0`).
    Pci(String),
}

/// A static route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    /// `vrf NAME`, or the global table.
    pub vrf: Option<String>,
    /// Destination.
    pub prefix: Prefix,
    /// Next-hop address.
    pub next_hop: Option<Ipv4Addr>,
    /// Outgoing interface.
    pub interface: Option<String>,
    /// Administrative distance (1 when absent).
    pub distance: Option<u8>,
    /// `tag N`.
    pub tag: Option<u32>,
    /// `name TEXT`.
    pub name: Option<String>,
    /// `permanent`.
    pub permanent: bool,
}

/// An access list's name: a number or a word.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AclName {
    /// `access-list N`.
    Number(u32),
    /// `ip access-list {standard|extended} NAME`.
    Name(String),
}

impl fmt::Display for AclName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclName::Number(n) => write!(f, "{n}"),
            AclName::Name(s) => f.write_str(s),
        }
    }
}

/// Standard (source only) or extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclKind {
    /// Matches the source address only.
    Standard,
    /// Matches protocol, source, destination and ports.
    Extended,
}

/// An access list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessList {
    /// Its name.
    pub name: AclName,
    /// Standard or extended.
    pub kind: AclKind,
    /// Entries in evaluation order.
    pub entries: Vec<Spanned<AclEntry>>,
    /// `remark TEXT` lines (rendered before the entries).
    pub remarks: Vec<Spanned<String>>,
    /// Where it was first defined.
    pub span: Span,
}

/// Permit or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `permit`.
    Permit,
    /// `deny`.
    Deny,
}

/// One access list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclEntry {
    /// Sequence number written in a named list (`10 permit ...`).
    pub seq: Option<u32>,
    /// Permit or deny.
    pub action: Action,
    /// IP protocol (`ip` for standard lists).
    pub protocol: Protocol,
    /// Source.
    pub src: AddrMatch,
    /// Source ports (TCP/UDP).
    pub src_port: Option<PortMatch>,
    /// Destination (`any` for standard lists).
    pub dst: AddrMatch,
    /// Destination ports (TCP/UDP).
    pub dst_port: Option<PortMatch>,
    /// ICMP type (and code) for `icmp` entries.
    pub icmp: Option<(u8, Option<u8>)>,
    /// `log`.
    pub log: bool,
}

/// The protocol field of an extended entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// `ip`: every protocol.
    Ip,
    /// `icmp` (1).
    Icmp,
    /// `tcp` (6).
    Tcp,
    /// `udp` (17).
    Udp,
    /// `gre` (47).
    Gre,
    /// `esp` (50).
    Esp,
    /// `ahp` (51).
    Ahp,
    /// A protocol number written as such.
    Number(u8),
}

impl Protocol {
    /// The IP protocol number, or `None` for `ip` (any).
    pub fn number(self) -> Option<u8> {
        match self {
            Protocol::Ip => None,
            Protocol::Icmp => Some(1),
            Protocol::Tcp => Some(6),
            Protocol::Udp => Some(17),
            Protocol::Gre => Some(47),
            Protocol::Esp => Some(50),
            Protocol::Ahp => Some(51),
            Protocol::Number(n) => Some(n),
        }
    }

    /// Whether the protocol has ports.
    pub fn has_ports(self) -> bool {
        matches!(self.number(), Some(6 | 17))
    }
}

/// An address field: `any`, `host A`, or `A WILDCARD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrMatch {
    /// Every address.
    Any,
    /// One address.
    Host(Ipv4Addr),
    /// Address and wildcard (bits set in the wildcard are ignored). May be non-contiguous.
    Wildcard(Ipv4Addr, Ipv4Addr),
}

impl AddrMatch {
    /// (address bits that must match, mask of bits that matter).
    pub fn value_and_care(self) -> (u32, u32) {
        match self {
            AddrMatch::Any => (0, 0),
            AddrMatch::Host(a) => (u32::from(a), u32::MAX),
            AddrMatch::Wildcard(a, w) => {
                let care = !u32::from(w);
                (u32::from(a) & care, care)
            }
        }
    }

    /// Whether `addr` matches.
    pub fn matches(self, addr: Ipv4Addr) -> bool {
        let (value, care) = self.value_and_care();
        u32::from(addr) & care == value
    }

    /// The prefix this matches when the wildcard is contiguous (`None` otherwise).
    pub fn as_prefix(self) -> Option<Prefix> {
        let (value, care) = self.value_and_care();
        let len = care.leading_ones();
        (care == mask_bits(len as u8)).then(|| Prefix {
            addr: Ipv4Addr::from(value),
            len: len as u8,
        })
    }
}

/// A port field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortMatch {
    /// `eq P...` (IOS allows several).
    Eq(Vec<u16>),
    /// `neq P`.
    Neq(u16),
    /// `lt P`.
    Lt(u16),
    /// `gt P`.
    Gt(u16),
    /// `range A B`.
    Range(u16, u16),
}

impl PortMatch {
    /// The matched ports as sorted, disjoint inclusive ranges.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        match *self {
            PortMatch::Eq(ref ports) => {
                let mut p = ports.clone();
                p.sort_unstable();
                p.dedup();
                p.into_iter().map(|x| (x, x)).collect()
            }
            PortMatch::Neq(p) => {
                let mut r = Vec::new();
                if p > 0 {
                    r.push((0, p - 1));
                }
                if p < u16::MAX {
                    r.push((p + 1, u16::MAX));
                }
                r
            }
            PortMatch::Lt(p) => {
                if p == 0 {
                    Vec::new()
                } else {
                    vec![(0, p - 1)]
                }
            }
            PortMatch::Gt(p) => {
                if p == u16::MAX {
                    Vec::new()
                } else {
                    vec![(p + 1, u16::MAX)]
                }
            }
            PortMatch::Range(a, b) => vec![(a.min(b), a.max(b))],
        }
    }
}

/// A transform set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformSet {
    /// Its name.
    pub name: Spanned<String>,
    /// The transforms, as written.
    pub transforms: Vec<Spanned<Transform>>,
    /// `mode tunnel|transport` (tunnel when absent).
    pub mode: Option<Spanned<IpsecMode>>,
    /// Where it was defined.
    pub span: Span,
}

impl TransformSet {
    /// The ESP cipher the data plane would use, if the set names exactly one supported AEAD.
    pub fn aead(&self) -> Option<Transform> {
        let mut aeads = self
            .transforms
            .iter()
            .map(|t| t.value)
            .filter(|t| t.is_supported());
        let first = aeads.next()?;
        aeads.next().is_none().then_some(first)
    }
}

/// One transform of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// `esp-gcm [128|256]` (AES-GCM with a 16-octet ICV, RFC 4106); 128 when no size is written.
    EspGcm(u16),
    /// `esp-gmac [128|256]` (authentication only).
    EspGmac(u16),
    /// rri extension `esp-chacha20-poly1305` (RFC 7634).
    EspChacha20Poly1305,
    /// `esp-aes [128|192|256]` (CBC).
    EspAes(u16),
    /// `esp-3des`.
    Esp3des,
    /// `esp-des`.
    EspDes,
    /// `esp-null`.
    EspNull,
    /// `esp-sha-hmac`.
    EspShaHmac,
    /// `esp-md5-hmac`.
    EspMd5Hmac,
    /// `esp-sha256-hmac`.
    EspSha256Hmac,
    /// `esp-sha384-hmac`.
    EspSha384Hmac,
    /// `esp-sha512-hmac`.
    EspSha512Hmac,
    /// `ah-sha-hmac`.
    AhShaHmac,
    /// `ah-md5-hmac`.
    AhMd5Hmac,
    /// `comp-lzs`.
    CompLzs,
}

impl Transform {
    /// Whether rri's data plane implements it.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            Transform::EspGcm(128 | 256) | Transform::EspChacha20Poly1305
        )
    }

    /// Key length in bytes, salt included, for manual keys (`None` if unsupported).
    pub fn key_material_len(self) -> Option<usize> {
        match self {
            Transform::EspGcm(128) => Some(16 + 4),
            Transform::EspGcm(256) | Transform::EspChacha20Poly1305 => Some(32 + 4),
            _ => None,
        }
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transform::EspGcm(bits) => write!(f, "esp-gcm {bits}"),
            Transform::EspGmac(bits) => write!(f, "esp-gmac {bits}"),
            Transform::EspChacha20Poly1305 => f.write_str("esp-chacha20-poly1305"),
            Transform::EspAes(bits) => write!(f, "esp-aes {bits}"),
            Transform::Esp3des => f.write_str("esp-3des"),
            Transform::EspDes => f.write_str("esp-des"),
            Transform::EspNull => f.write_str("esp-null"),
            Transform::EspShaHmac => f.write_str("esp-sha-hmac"),
            Transform::EspMd5Hmac => f.write_str("esp-md5-hmac"),
            Transform::EspSha256Hmac => f.write_str("esp-sha256-hmac"),
            Transform::EspSha384Hmac => f.write_str("esp-sha384-hmac"),
            Transform::EspSha512Hmac => f.write_str("esp-sha512-hmac"),
            Transform::AhShaHmac => f.write_str("ah-sha-hmac"),
            Transform::AhMd5Hmac => f.write_str("ah-md5-hmac"),
            Transform::CompLzs => f.write_str("comp-lzs"),
        }
    }
}

/// IPsec encapsulation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpsecMode {
    /// `tunnel`.
    Tunnel,
    /// `transport`.
    Transport,
}

/// A crypto map: entries by sequence number, plus map-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoMap {
    /// Its name.
    pub name: Spanned<String>,
    /// `crypto map NAME local-address IF`.
    pub local_address: Option<Spanned<String>>,
    /// Entries by sequence number.
    pub entries: BTreeMap<u32, CryptoMapEntry>,
}

/// How a crypto map entry gets its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoMapKind {
    /// `ipsec-isakmp`: negotiated by IKE.
    Isakmp,
    /// `ipsec-manual`: `set session-key` lines.
    Manual,
    /// `ipsec-isakmp dynamic NAME`: a dynamic map template.
    Dynamic(Spanned<String>),
}

/// One entry of a crypto map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoMapEntry {
    /// Sequence number.
    pub seq: Spanned<u32>,
    /// Kind.
    pub kind: CryptoMapKind,
    /// What the entry says.
    pub body: MapEntryBody,
    /// Where the header is.
    pub span: Span,
}

/// A dynamic crypto map template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicMap {
    /// Its name.
    pub name: Spanned<String>,
    /// Entries by sequence number.
    pub entries: BTreeMap<u32, DynamicMapEntry>,
}

/// One entry of a dynamic crypto map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicMapEntry {
    /// Sequence number.
    pub seq: Spanned<u32>,
    /// What the entry says.
    pub body: MapEntryBody,
    /// Where the header is.
    pub span: Span,
}

/// The commands shared by crypto map entries, dynamic map entries and IPsec profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapEntryBody {
    /// `description TEXT`.
    pub description: Option<Spanned<String>>,
    /// `set peer ...`, in order.
    pub peers: Vec<Spanned<PeerSpec>>,
    /// `match address ACL`.
    pub match_address: Option<Spanned<AclName>>,
    /// `set transform-set NAME...`.
    pub transform_sets: Vec<Spanned<String>>,
    /// `reverse-route ...`.
    pub reverse_route: Option<Spanned<ReverseRoute>>,
    /// `set reverse-route distance N`.
    pub rri_distance: Option<Spanned<u8>>,
    /// `set reverse-route tag N`.
    pub rri_tag: Option<Spanned<u32>>,
    /// `set security-association idletime N [default]`.
    pub idle_time: Option<Spanned<IdleTime>>,
    /// `set security-association lifetime seconds N`.
    pub lifetime_seconds: Option<Spanned<u32>>,
    /// `set security-association lifetime kilobytes N`.
    pub lifetime_kilobytes: Option<Spanned<u64>>,
    /// `set security-association replay window-size N` / `replay disable`.
    pub replay: Option<Spanned<Replay>>,
    /// `set isakmp-profile NAME`.
    pub isakmp_profile: Option<Spanned<String>>,
    /// `set ikev2-profile NAME`.
    pub ikev2_profile: Option<Spanned<String>>,
    /// `set pfs GROUP`.
    pub pfs: Option<Spanned<DhGroup>>,
    /// `set session-key ...` (manual maps).
    pub session_keys: Vec<Spanned<SessionKey>>,
}

/// A peer of a crypto map entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// Address or host name.
    pub target: PeerTarget,
    /// `default`.
    pub default: bool,
}

/// How a peer is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerTarget {
    /// An address.
    Address(Ipv4Addr),
    /// A host name, resolved by DNS once (`dynamic: false`) or before every attempt.
    Host {
        /// The name as written.
        name: String,
        /// `dynamic`.
        dynamic: bool,
    },
}

/// `reverse-route` and its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReverseRoute {
    /// `static`: routes from the crypto ACL whether or not an SA exists.
    pub static_routes: bool,
    /// Legacy `reverse-route tag N`.
    pub tag: Option<u32>,
    /// `remote-peer [ADDR [gateway]]`.
    pub remote_peer: Option<RemotePeer>,
}

/// The `remote-peer` option of `reverse-route`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemotePeer {
    /// Legacy `remote-peer` with no address: proxy via the peer, peer via the interface.
    Interface,
    /// `remote-peer ADDR`: proxy via ADDR; with `gateway`, proxy via the peer and peer via ADDR.
    NextHop {
        /// The user-defined next hop.
        addr: Ipv4Addr,
        /// `gateway`.
        gateway: bool,
    },
}

/// `set security-association idletime N [default]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleTime {
    /// Seconds.
    pub seconds: u32,
    /// `default`: after going idle, the next connection goes to the default peer.
    pub default_peer: bool,
}

/// The anti-replay setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// `replay window-size N`.
    WindowSize(u32),
    /// `replay disable`.
    Disabled,
}

/// A Diffie-Hellman group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DhGroup {
    /// A group by number (`group14`, `group19`, `group31`, ...).
    Group(u16),
}

impl fmt::Display for DhGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DhGroup::Group(n) => write!(f, "group{n}"),
        }
    }
}

/// Direction of a manual session key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// `inbound`.
    Inbound,
    /// `outbound`.
    Outbound,
}

/// `set session-key {inbound|outbound} esp SPI cipher HEX [authenticator HEX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    /// Direction.
    pub direction: Direction,
    /// SPI.
    pub spi: u32,
    /// Cipher key material (key then salt for AEADs).
    pub cipher: SecretBytes,
    /// Authenticator key, for non-AEAD transforms.
    pub authenticator: Option<SecretBytes>,
}

/// An IPsec profile (for virtual tunnel interfaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpsecProfile {
    /// Its name.
    pub name: Spanned<String>,
    /// What it says (peers and ACLs do not apply).
    pub body: MapEntryBody,
    /// Where it starts.
    pub span: Span,
}

/// Global IPsec settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpsecGlobal {
    /// `crypto ipsec security-association idle-time N`.
    pub idle_time: Option<Spanned<u32>>,
    /// `crypto ipsec security-association lifetime seconds N`.
    pub lifetime_seconds: Option<Spanned<u32>>,
    /// `crypto ipsec security-association lifetime kilobytes N`.
    pub lifetime_kilobytes: Option<Spanned<u64>>,
    /// `crypto ipsec security-association replay window-size N`.
    pub replay_window: Option<Spanned<u32>>,
    /// `crypto ipsec df-bit {clear|set|copy}`.
    pub df_bit: Option<Spanned<DfBit>>,
}

/// What the outer header's DF bit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DfBit {
    /// Always clear.
    Clear,
    /// Always set.
    Set,
    /// Copied from the inner packet.
    Copy,
}

/// IKEv1 (ISAKMP) configuration: parsed and kept; rri negotiates with IKEv2.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Isakmp {
    /// `crypto isakmp policy N`.
    pub policies: BTreeMap<u32, IsakmpPolicy>,
    /// `crypto isakmp key KEY address A [M]`.
    pub keys: Vec<Spanned<IsakmpKey>>,
    /// `crypto isakmp keepalive N [R] [periodic|on-demand]` (dead peer detection).
    pub keepalive: Option<Spanned<Keepalive>>,
    /// `crypto isakmp profile NAME`.
    pub profiles: BTreeMap<String, IsakmpProfile>,
    /// `crypto keyring NAME`.
    pub keyrings: BTreeMap<String, Keyring>,
}

/// `crypto isakmp policy N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsakmpPolicy {
    /// Priority.
    pub priority: Spanned<u32>,
    /// `encr ...` / `encryption ...` as written (e.g. `aes 256`).
    pub encryption: Option<Spanned<String>>,
    /// `hash ...`.
    pub hash: Option<Spanned<String>>,
    /// `authentication ...`.
    pub authentication: Option<Spanned<String>>,
    /// `group N`.
    pub group: Option<Spanned<u16>>,
    /// `lifetime N`.
    pub lifetime: Option<Spanned<u32>>,
    /// Where it starts.
    pub span: Span,
}

/// `crypto isakmp key KEY address A [M]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsakmpKey {
    /// The key.
    pub key: SecretString,
    /// The peer address.
    pub address: Ipv4Addr,
    /// Its mask length (32 when absent).
    pub len: u8,
}

/// Dead peer detection timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Seconds between checks.
    pub interval: u32,
    /// Seconds between retries (IOS default 2).
    pub retry: Option<u32>,
    /// Periodic or on demand (IOS default on demand).
    pub mode: Option<DpdMode>,
}

/// When dead peer detection sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpdMode {
    /// At every interval while no traffic arrives.
    Periodic,
    /// Only when there is traffic to send and none arrives.
    OnDemand,
}

/// `crypto isakmp profile NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsakmpProfile {
    /// Its name.
    pub name: Spanned<String>,
    /// `keyring NAME`.
    pub keyring: Option<Spanned<String>>,
    /// `match identity ...` lines.
    pub match_identities: Vec<Spanned<IdentityMatch>>,
    /// `client authentication list NAME`.
    pub client_authentication_list: Option<Spanned<String>>,
    /// `isakmp authorization list NAME`.
    pub isakmp_authorization_list: Option<Spanned<String>>,
    /// `client configuration address {initiate|respond}`.
    pub client_configuration_address: Option<Spanned<String>>,
    /// `virtual-template N`.
    pub virtual_template: Option<Spanned<u32>>,
    /// `keepalive N retry R`.
    pub keepalive: Option<Spanned<Keepalive>>,
    /// `self-identity address|fqdn ...`.
    pub self_identity: Option<Spanned<String>>,
    /// Where it starts.
    pub span: Span,
}

/// `match identity ...` in an ISAKMP profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMatch {
    /// `group NAME`.
    Group(String),
    /// `address A [M] [VRF]`.
    Address {
        /// Address.
        addr: Ipv4Addr,
        /// Mask length (32 when absent).
        len: u8,
        /// VRF name.
        vrf: Option<String>,
    },
    /// `host NAME`.
    Host(String),
}

/// `crypto keyring NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyring {
    /// Its name.
    pub name: Spanned<String>,
    /// `pre-shared-key address A [M] key KEY`.
    pub keys: Vec<Spanned<IsakmpKey>>,
    /// Where it starts.
    pub span: Span,
}

/// IKEv2 configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ikev2 {
    /// `crypto ikev2 proposal NAME`.
    pub proposals: BTreeMap<String, Ikev2Proposal>,
    /// `crypto ikev2 policy NAME`.
    pub policies: BTreeMap<String, Ikev2Policy>,
    /// `crypto ikev2 keyring NAME`.
    pub keyrings: BTreeMap<String, Ikev2Keyring>,
    /// `crypto ikev2 profile NAME`.
    pub profiles: BTreeMap<String, Ikev2Profile>,
    /// `crypto ikev2 dpd INTERVAL RETRY {on-demand|periodic}` (global).
    pub dpd: Option<Spanned<Keepalive>>,
    /// `crypto ikev2 cookie-challenge N`: half-open SAs before cookies are required.
    pub cookie_challenge: Option<Spanned<u32>>,
    /// `crypto ikev2 limit max-sa N`: IKE SAs in all.
    pub limit_max_sa: Option<Spanned<u32>>,
    /// `crypto ikev2 limit max-in-negotiation-sa N`: IKE SAs being negotiated (half-open).
    pub limit_max_in_negotiation: Option<Spanned<u32>>,
}

/// `crypto ikev2 proposal NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ikev2Proposal {
    /// Its name.
    pub name: Spanned<String>,
    /// `encryption ...`.
    pub encryption: Vec<Spanned<Ikev2Cipher>>,
    /// `prf ...`.
    pub prf: Vec<Spanned<Ikev2Prf>>,
    /// `integrity ...` (only for non-AEAD ciphers, which rri does not offer).
    pub integrity: Vec<Spanned<String>>,
    /// `group ...`.
    pub groups: Vec<Spanned<u16>>,
    /// Where it starts.
    pub span: Span,
}

/// IKEv2 encryption algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ikev2Cipher {
    /// `aes-gcm-128`.
    AesGcm128,
    /// `aes-gcm-256`.
    AesGcm256,
    /// `chacha20-poly1305`.
    Chacha20Poly1305,
    /// `aes-cbc-128` (kept, not supported).
    AesCbc128,
    /// `aes-cbc-256` (kept, not supported).
    AesCbc256,
    /// `3des` (kept, not supported).
    TripleDes,
}

/// IKEv2 pseudo-random functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ikev2Prf {
    /// `sha256`.
    Sha256,
    /// `sha384`.
    Sha384,
    /// `sha512`.
    Sha512,
    /// `sha1` (kept, not supported).
    Sha1,
}

/// `crypto ikev2 policy NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ikev2Policy {
    /// Its name.
    pub name: Spanned<String>,
    /// `proposal NAME` lines.
    pub proposals: Vec<Spanned<String>>,
    /// `match address local A`.
    pub match_local: Vec<Spanned<Ipv4Addr>>,
    /// `match fvrf NAME|any`.
    pub match_fvrf: Option<Spanned<String>>,
    /// Where it starts.
    pub span: Span,
}

/// `crypto ikev2 keyring NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ikev2Keyring {
    /// Its name.
    pub name: Spanned<String>,
    /// `peer NAME` blocks, by name.
    pub peers: BTreeMap<String, Ikev2KeyringPeer>,
    /// Where it starts.
    pub span: Span,
}

/// A `peer NAME` block of an IKEv2 keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ikev2KeyringPeer {
    /// Its name.
    pub name: Spanned<String>,
    /// `address A [M]`.
    pub address: Option<Spanned<(Ipv4Addr, u8)>>,
    /// `hostname NAME`.
    pub hostname: Option<Spanned<String>>,
    /// `identity ...`.
    pub identity: Option<Spanned<Identity>>,
    /// `pre-shared-key KEY` (both directions).
    pub pre_shared_key: Option<Spanned<SecretString>>,
    /// `pre-shared-key local KEY`.
    pub pre_shared_key_local: Option<Spanned<SecretString>>,
    /// `pre-shared-key remote KEY`.
    pub pre_shared_key_remote: Option<Spanned<SecretString>>,
    /// Where it starts.
    pub span: Span,
}

/// An IKE identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// `address A`.
    Address(Ipv4Addr),
    /// `fqdn NAME`.
    Fqdn(String),
    /// `email NAME`.
    Email(String),
    /// `key-id TEXT`.
    KeyId(String),
}

/// `crypto ikev2 profile NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ikev2Profile {
    /// Its name.
    pub name: Spanned<String>,
    /// `match identity remote ...`.
    pub match_remote: Vec<Spanned<RemoteIdentityMatch>>,
    /// `match address local A`.
    pub match_local_address: Vec<Spanned<Ipv4Addr>>,
    /// `identity local ...`.
    pub identity_local: Option<Spanned<Identity>>,
    /// `authentication local pre-share`.
    pub auth_local: Option<Spanned<String>>,
    /// `authentication remote pre-share`.
    pub auth_remote: Option<Spanned<String>>,
    /// `keyring local NAME`.
    pub keyring: Option<Spanned<String>>,
    /// `dpd INTERVAL RETRY {on-demand|periodic}`.
    pub dpd: Option<Spanned<Keepalive>>,
    /// `lifetime SECONDS` (IKE SA).
    pub lifetime: Option<Spanned<u32>>,
    /// `virtual-template N`.
    pub virtual_template: Option<Spanned<u32>>,
    /// `nat keepalive SECONDS`.
    pub nat_keepalive: Option<Spanned<u32>>,
    /// Where it starts.
    pub span: Span,
}

/// `match identity remote ...` in an IKEv2 profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteIdentityMatch {
    /// `address A [M]`.
    Address(Ipv4Addr, u8),
    /// `fqdn [domain] NAME`.
    Fqdn {
        /// The name or domain.
        name: String,
        /// `domain`: any name ending in it.
        domain: bool,
    },
    /// `email NAME`.
    Email(String),
    /// `key-id TEXT`.
    KeyId(String),
    /// `any`.
    Any,
}

/// `crypto ipsec client ezvpn NAME` (Easy VPN client): parsed and kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EzvpnClient {
    /// Its name.
    pub name: Spanned<String>,
    /// `connect {auto|manual|acl}`.
    pub connect: Option<Spanned<String>>,
    /// `group NAME key KEY`.
    pub group: Option<Spanned<(String, SecretString)>>,
    /// `mode {client|network-extension|network-plus}`.
    pub mode: Option<Spanned<String>>,
    /// `peer ADDR|HOST [default]` lines.
    pub peers: Vec<Spanned<String>>,
    /// `username U password P`.
    pub username: Option<Spanned<(String, SecretString)>>,
    /// `xauth userid mode {interactive|local|http-intercept}`.
    pub xauth_userid_mode: Option<Spanned<String>>,
    /// `virtual-interface N`.
    pub virtual_interface: Option<Spanned<u32>>,
    /// Where it starts.
    pub span: Span,
}

/// `router ospf N` or `router bgp N`: kept in the model (no routing protocol runs yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterProcess {
    /// The protocol and its number.
    pub protocol: RoutingProtocol,
    /// `router-id A`.
    pub router_id: Option<Spanned<Ipv4Addr>>,
    /// `redistribute ...` lines.
    pub redistribute: Vec<Spanned<Redistribute>>,
    /// `network ...` lines, as written after `network`.
    pub networks: Vec<Spanned<String>>,
    /// `neighbor ...` lines, as written after `neighbor`.
    pub neighbors: Vec<Spanned<String>>,
    /// Where it starts.
    pub span: Span,
}

/// A routing protocol instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoutingProtocol {
    /// `ospf PROCESS-ID`.
    Ospf(u32),
    /// `bgp ASN`.
    Bgp(u32),
    /// `eigrp ASN`.
    Eigrp(u32),
    /// `rip`.
    Rip,
}

/// What a `redistribute` line takes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedistributeSource {
    /// `static` (RRI routes are static routes).
    Static,
    /// `connected`.
    Connected,
    /// Another routing protocol.
    Protocol(RoutingProtocol),
}

/// `redistribute SOURCE [metric N] [metric-type 1|2] [subnets] [tag N] [route-map NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redistribute {
    /// What is redistributed.
    pub source: RedistributeSource,
    /// `metric N`.
    pub metric: Option<u32>,
    /// `metric-type 1|2`.
    pub metric_type: Option<u8>,
    /// `subnets`.
    pub subnets: bool,
    /// `tag N`.
    pub tag: Option<u32>,
    /// `route-map NAME`.
    pub route_map: Option<Spanned<String>>,
}

/// One entry of a route map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMapEntry {
    /// Permit or deny.
    pub action: Action,
    /// Sequence number (10 when not written, as in IOS).
    pub seq: Spanned<u32>,
    /// `match tag N...`.
    pub match_tags: Vec<Spanned<u32>>,
    /// `match ip address ACL...`.
    pub match_ip_address: Vec<Spanned<AclName>>,
    /// `set metric N`.
    pub set_metric: Option<Spanned<u32>>,
    /// `set metric-type type-1|type-2`.
    pub set_metric_type: Option<Spanned<u8>>,
    /// `set tag N`.
    pub set_tag: Option<Spanned<u32>>,
    /// Where it starts.
    pub span: Span,
}

/// rri extension: global DPDK settings (`dpdk ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DpdkGlobal {
    /// `dpdk eal-options ARGS...`: extra EAL arguments.
    pub eal_options: Vec<Spanned<String>>,
    /// `dpdk main-lcore N`.
    pub main_lcore: Option<Spanned<u32>>,
    /// `dpdk worker-lcores LIST` (`1,2` or `1-3`).
    pub worker_lcores: Option<Spanned<Vec<u32>>>,
    /// `dpdk mempool mbufs N`.
    pub mempool_mbufs: Option<Spanned<u32>>,
    /// `dpdk burst N`.
    pub burst: Option<Spanned<u16>>,
}
