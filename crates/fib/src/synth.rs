//! Synthetic routing tables and address traces for tests and benchmarks.
//!
//! The prefix-length distribution follows a full BGP view (as DPDK's `lpm_perf_autotest`
//! table does): about 55% /24, then /22-/23, /16-/21, few shorter. Everything is derived
//! from a seed, so runs are repeatable.

/// A small, fast, repeatable generator (xorshift64).
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator from a nonzero seed.
    pub fn new(seed: u64) -> Self {
        Xorshift(seed | 1)
    }

    /// The next value.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A prefix length drawn from the BGP-like distribution.
pub fn bgp_len(r: u64) -> u8 {
    match r % 1000 {
        0..=549 => 24,
        550..=649 => 23,
        650..=759 => 22,
        760..=819 => 21,
        820..=869 => 20,
        870..=909 => 19,
        910..=939 => 18,
        940..=959 => 17,
        960..=984 => 16,
        985..=994 => 12 + (r % 4) as u8,
        _ => 8 + (r % 4) as u8,
    }
}

/// `n` distinct prefixes `(address, length)` in unicast space (1.0.0.0 to 223.255.255.255,
/// without 10/8, 127/8 and the ranges listed in `avoid`), BGP-like lengths.
pub fn bgp_like(n: usize, seed: u64, avoid: &[u8]) -> Vec<(u32, u8)> {
    let mut rng = Xorshift::new(seed);
    let mut seen = std::collections::HashSet::with_capacity(n * 2);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let r = rng.next_u64();
        let len = bgp_len(r >> 32);
        let first = 1 + (r % 223) as u8;
        if first == 10 || first == 127 || avoid.contains(&first) {
            continue;
        }
        let addr = (u32::from(first) << 24) | ((r >> 8) as u32 & 0x00ff_ffff);
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let p = (addr & mask, len);
        if seen.insert(p) {
            out.push(p);
        }
    }
    out
}

/// `n` uniformly random addresses.
pub fn random_trace(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = Xorshift::new(seed);
    (0..n).map(|_| rng.next_u64() as u32).collect()
}

/// `n` addresses with strong locality: 90% fall in a hot set of 256 of the given prefixes
/// (like a head-end's busiest tunnels), the rest anywhere.
pub fn locality_trace(prefixes: &[(u32, u8)], n: usize, seed: u64) -> Vec<u32> {
    let mut rng = Xorshift::new(seed);
    let hot: Vec<(u32, u8)> = (0..256)
        .map(|_| prefixes[(rng.next_u64() % prefixes.len() as u64) as usize])
        .collect();
    (0..n)
        .map(|_| {
            let r = rng.next_u64();
            if r.is_multiple_of(10) {
                (r >> 32) as u32
            } else {
                let (a, len) = hot[((r >> 8) % 256) as usize];
                let host = if len == 32 {
                    0
                } else {
                    (r >> 16) as u32 & (u32::MAX >> len)
                };
                a | host
            }
        })
        .collect()
}
