//! AES-GCM on 256-bit vectors: VAES for the cipher, VPCLMULQDQ for GHASH, AVX2 around them.
//!
//! Why rri carries its own: on a processor with VAES but without AVX-512, intel-ipsec-mb 1.3
//! has no VAES code, and ring's (BoringSSL's AVX2 assembly) is fast on long packets but sits
//! behind a Rust layer that builds the counter, AAD and length blocks byte by byte and rereads
//! them as vectors (store-to-load forwarding stalls) and hashes each of them with its own
//! one-block GHASH call: about 17 % of a worker's time sealing 1400-byte packets, measured
//! with `perf` on the benchmark daemon. Here the whole seal is one function: the data is enciphered
//! 256 bytes (16 blocks, eight vectors) at a time in counter mode, each stretch hashed with one
//! reduction (Karatsuba products with powers H^18 .. H^1 kept with the key) while the next is
//! enciphered; the AAD, the last stretch and the length block share one more reduction; short
//! AADs and packet tails are loaded with exact-width loads.
//!
//! On an AMD EPYC with VAES and no AVX-512 it sealed 52-byte plaintexts in 0.94 of
//! intel-ipsec-mb's time and 1392-byte ones in 0.81 of ring's (`cargo bench -p gcm --bench
//! engines`); there the cipher and the carry-less multiplies compete for the same units,
//! and the seal runs at the sum of the two's work.
//!
//! GHASH works on blocks byte-reflected into 128-bit integers, in which bit `p` holds the
//! coefficient of x^(127-p). A carry-less product of two such integers holds the product's
//! coefficients one bit off (x^(254-p)), so the key side is stored premultiplied by x^-1
//! (one left shift of the reflected integer, folding the carry back with the reflected
//! x^-1 = x^127 + x^6 + x + 1, the constant `0xc2000…01`); the 256-bit product then stands for
//! the true one, and folding its high-degree half twice with x^128 = x^7 + x^2 + x + 1 (the
//! 64-bit constant `0xc2000…`) reduces it. Products of up to 18 blocks are summed before one
//! reduction.
//!
//! Contract: [`VaesGcm::new`] refuses a CPU without AVX2, AES-NI, PCLMULQDQ, VAES and
//! VPCLMULQDQ ([`supported`]) and any key but 16 or 32 bytes. Sealing and opening are in place,
//! with a 12-byte IV, any AAD and a 16-byte tag; the nonce discipline is the caller's. A key is
//! only read after it is made, so one key may seal on several threads at once. Opening
//! deciphers the data in place before it compares the tag; on a mismatch it overwrites the
//! deciphered bytes with zeros before it returns, so no unauthenticated plaintext is ever
//! released. Round keys and hash-key powers are cleared on drop.

use std::arch::x86_64::*;

use crate::Error;

/// GCM's limit on the data one IV may cover: 2^32 - 2 blocks of counter.
const MAX_DATA_LEN: u64 = (1 << 36) - 32;

/// Whether this CPU runs [`VaesGcm`].
pub fn supported() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("aes")
        && std::arch::is_x86_feature_detected!("pclmulqdq")
        && std::arch::is_x86_feature_detected!("vaes")
        && std::arch::is_x86_feature_detected!("vpclmulqdq")
}

/// An AES-GCM key expanded for the vector code: round keys in both lanes of a 256-bit vector
/// and the hash key's first 18 powers.
pub struct VaesGcm {
    round_keys: [__m256i; 15],
    /// 10 for AES-128, 14 for AES-256.
    rounds: usize,
    /// H^18, H^17, …, H^1 in the multiply's form (times x^-1, reflected), then a zero block,
    /// so that any two neighbours load as one vector and a group of k blocks takes the pairs
    /// from H^k down, the zero paired with an odd group's last block.
    powers: [__m128i; POWERS + 1],
    /// For each power, its two 64-bit halves xored (Karatsuba's middle factor), in the low
    /// half; laid out as `powers`.
    middles: [__m128i; POWERS + 1],
}

/// Hash-key powers kept: a 256-byte stretch (16 blocks) per reduction, and for the last
/// group up to 16 blocks of data, a one-block AAD in front and the length block behind.
const POWERS: usize = 18;

/// Where H^16 is in [`VaesGcm::powers`]: a stretch's first pair.
const STRETCH_POWERS: usize = POWERS - 16;

impl std::fmt::Debug for VaesGcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaesGcm")
            .field("key_bits", &if self.rounds == 10 { 128 } else { 256 })
            .finish_non_exhaustive()
    }
}

impl VaesGcm {
    /// Expands a 16- or 32-byte AES key.
    ///
    /// # Errors
    /// [`Error::Unsupported`] on a CPU without the instructions (see [`supported`]);
    /// [`Error::KeyLength`] for another key length.
    pub fn new(key: &[u8]) -> Result<Self, Error> {
        if !supported() {
            return Err(Error::Unsupported(
                "this CPU lacks AVX2, AES-NI, PCLMULQDQ, VAES or VPCLMULQDQ",
            ));
        }
        if !matches!(key.len(), 16 | 32) {
            return Err(Error::KeyLength(key.len()));
        }
        // SAFETY: the CPU runs every instruction set the function is compiled for (checked
        // just above).
        Ok(unsafe { Self::expand(key) })
    }

    /// Seals `data` in place under `iv` and `aad` and writes the tag.
    ///
    /// # Panics
    /// If `data` is longer than GCM allows under one IV (2^36 - 32 bytes).
    #[inline]
    pub fn seal_in_place(&self, data: &mut [u8], iv: &[u8; 12], aad: &[u8], tag: &mut [u8; 16]) {
        assert!(
            data.len() as u64 <= MAX_DATA_LEN,
            "GCM data over 2^36 - 32 bytes"
        );
        // SAFETY: a `VaesGcm` exists only where `new` found the CPU runs every instruction set
        // these functions are compiled for.
        unsafe {
            let computed = if self.rounds == 10 {
                self.crypt::<10, true>(data, iv, aad)
            } else {
                self.crypt::<14, true>(data, iv, aad)
            };
            store128(tag, computed);
        }
    }

    /// Opens `data` in place: deciphers it and returns whether `tag` is right. On `false`
    /// `data` holds zeros: the deciphered bytes were not authentic and are not released.
    ///
    /// # Panics
    /// If `data` is longer than GCM allows under one IV (2^36 - 32 bytes).
    #[inline]
    #[must_use]
    pub fn open_in_place(
        &self,
        data: &mut [u8],
        iv: &[u8; 12],
        aad: &[u8],
        tag: &[u8; 16],
    ) -> bool {
        assert!(
            data.len() as u64 <= MAX_DATA_LEN,
            "GCM data over 2^36 - 32 bytes"
        );
        // SAFETY: as in `seal_in_place`.
        unsafe {
            let computed = if self.rounds == 10 {
                self.crypt::<10, false>(data, iv, aad)
            } else {
                self.crypt::<14, false>(data, iv, aad)
            };
            if tags_equal(computed, load128(tag)) {
                return true;
            }
        }
        data.fill(0);
        false
    }

    #[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
    fn expand(key: &[u8]) -> Self {
        let mut keys = [_mm_setzero_si128(); 15];
        let rounds = if let Ok(key) = <&[u8; 16]>::try_from(key) {
            expand_128(load128(key), &mut keys);
            10
        } else {
            let (low, high) = key.split_at(16);
            let (Ok(low), Ok(high)) = (<&[u8; 16]>::try_from(low), <&[u8; 16]>::try_from(high))
            else {
                unreachable!("new() admits 16- and 32-byte keys only");
            };
            expand_256(load128(low), load128(high), &mut keys);
            14
        };
        let mut round_keys = [_mm256_setzero_si256(); 15];
        for (wide, key) in round_keys.iter_mut().zip(&keys) {
            *wide = _mm256_broadcastsi128_si256(*key);
        }
        let h = encrypt_block(&round_keys, rounds, _mm_setzero_si128());
        let h = times_x_inverse(_mm_shuffle_epi8(h, byte_reverse()));
        let mut powers = [_mm_setzero_si128(); POWERS + 1];
        powers[POWERS - 1] = h;
        for i in (0..POWERS - 1).rev() {
            powers[i] = gf_mul(powers[i + 1], h);
        }
        let mut middles = [_mm_setzero_si128(); POWERS + 1];
        for (middle, power) in middles.iter_mut().zip(&powers) {
            *middle = _mm_xor_si128(*power, _mm_shuffle_epi32::<0x4e>(*power));
        }
        VaesGcm {
            round_keys,
            rounds,
            powers,
            middles,
        }
    }

    /// Seals (`SEAL`) or opens `data` in place and returns the tag it computed.
    ///
    /// The data goes 256 bytes (16 blocks, eight vectors) at a time: the key stream for one
    /// stretch is computed round by round with the previous stretch's GHASH (one reduction
    /// per stretch) slotted between the rounds, so that neither waits for the other. The
    /// key stream of the rest (under 256 bytes) and of J0 (for the tag) is computed in one
    /// batch, and the rest is hashed in pairs as it is enciphered, with the length block
    /// (and a one-block AAD, when the data is short) in one more vector: one reduction.
    #[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
    fn crypt<const ROUNDS: usize, const SEAL: bool>(
        &self,
        data: &mut [u8],
        iv: &[u8; 12],
        aad: &[u8],
    ) -> __m128i {
        let (j0, mut counters) = first_counters(iv);
        let reverse = _mm256_broadcastsi128_si256(byte_reverse());
        let data_len = data.len();
        let aad_joins_rest = aad.len() <= 16 && data_len < 256;
        let mut x = if aad_joins_rest {
            _mm_setzero_si128()
        } else {
            self.hash_aad(aad)
        };
        // The previous stretch's ciphertext, reflected, waiting to be hashed.
        let mut pending: Option<[__m256i; 8]> = None;
        let (stretches, rest) = data.as_chunks_mut::<256>();
        for stretch in stretches {
            let mut stream = [_mm256_setzero_si256(); 8];
            for block in &mut stream {
                *block =
                    _mm256_xor_si256(_mm256_shuffle_epi8(counters, reverse), self.round_keys[0]);
                counters = _mm256_add_epi32(counters, two_blocks());
            }
            let mut sum = ProductSum::new();
            for (round, key) in self.round_keys[1..ROUNDS].iter().enumerate() {
                for block in &mut stream {
                    *block = _mm256_aesenc_epi128(*block, *key);
                }
                if let (Some(pending), true) = (&pending, round < 8) {
                    self.add_stretch_pair(&mut sum, round, pending[round], x);
                }
            }
            for block in &mut stream {
                *block = _mm256_aesenclast_epi128(*block, self.round_keys[ROUNDS]);
            }
            if pending.is_some() {
                x = sum.reduce();
            }
            let mut hashed = [_mm256_setzero_si256(); 8];
            for ((bytes, stream), hashed) in stretch
                .as_chunks_mut::<32>()
                .0
                .iter_mut()
                .zip(stream)
                .zip(&mut hashed)
            {
                let input = load256(bytes);
                let output = _mm256_xor_si256(input, stream);
                store256(bytes, output);
                *hashed = _mm256_shuffle_epi8(if SEAL { output } else { input }, reverse);
            }
            pending = Some(hashed);
        }
        // The rest's key stream first, so that it is under way while the last stretch is
        // hashed.
        let rest_blocks = rest.len().div_ceil(16);
        let (stream, tag_mask) = match rest_blocks.div_ceil(2) {
            0 => keystream::<ROUNDS, 0>(&self.round_keys, &mut counters, j0),
            1 => keystream::<ROUNDS, 1>(&self.round_keys, &mut counters, j0),
            2 => keystream::<ROUNDS, 2>(&self.round_keys, &mut counters, j0),
            3 | 4 => keystream::<ROUNDS, 4>(&self.round_keys, &mut counters, j0),
            _ => keystream::<ROUNDS, 8>(&self.round_keys, &mut counters, j0),
        };
        if let Some(pending) = pending {
            let mut sum = ProductSum::new();
            for (j, block) in pending.into_iter().enumerate() {
                self.add_stretch_pair(&mut sum, j, block, x);
            }
            x = sum.reduce();
        }
        // The last group: x plus the AAD (when it joins) times the highest power, the rest's
        // blocks from H^(rest_blocks + 1) down, the length block times H.
        let mut first = x;
        if aad_joins_rest && !aad.is_empty() {
            first = _mm_xor_si128(first, _mm_shuffle_epi8(load_partial(aad), byte_reverse()));
        }
        let top = rest_blocks + 1 + usize::from(aad_joins_rest);
        let outer = _mm256_set_m128i(length_block(aad.len(), data_len), first);
        let mut sum = ProductSum::new();
        sum.add(
            outer,
            _mm256_set_m128i(self.powers[POWERS - 1], self.powers[POWERS - top]),
            _mm256_set_m128i(self.middles[POWERS - 1], self.middles[POWERS - top]),
        );
        let first_data = POWERS - (rest_blocks + 1);
        let (pairs, last) = rest.as_chunks_mut::<32>();
        for (j, (bytes, stream)) in pairs.iter_mut().zip(stream).enumerate() {
            let input = load256(bytes);
            let output = _mm256_xor_si256(input, stream);
            store256(bytes, output);
            let block = _mm256_shuffle_epi8(if SEAL { output } else { input }, reverse);
            let at = first_data + 2 * j;
            sum.add(block, self.power_pair(at), self.middle_pair(at));
        }
        if !last.is_empty() {
            let stream = stream.get(pairs.len()).copied().unwrap_or(reverse);
            let block = last_pair::<SEAL>(last, stream);
            let at = first_data + 2 * pairs.len();
            sum.add(block, self.power_pair(at), self.middle_pair(at));
        }
        x = sum.reduce();
        _mm_xor_si128(_mm_shuffle_epi8(x, byte_reverse()), tag_mask)
    }

    /// GHASH of the AAD, zero-padded to whole blocks, from a zero state.
    #[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
    #[inline]
    fn hash_aad(&self, aad: &[u8]) -> __m128i {
        let reverse = byte_reverse();
        let mut x = _mm_setzero_si128();
        let (whole, partial) = aad.as_chunks::<16>();
        for group in whole.chunks(16) {
            let mut blocks = [_mm_setzero_si128(); 16];
            for (block, bytes) in blocks.iter_mut().zip(group) {
                *block = _mm_shuffle_epi8(load128(bytes), reverse);
            }
            x = self.hash_up_to_16(x, &blocks[..group.len()]);
        }
        if !partial.is_empty() {
            let block = _mm_shuffle_epi8(load_partial(partial), reverse);
            x = self.hash_up_to_16(x, &[block]);
        }
        x
    }

    /// Adds vector `j` (blocks 2j and 2j + 1) of a 256-byte stretch to `sum`, times H^(16-2j)
    /// and H^(15-2j); the first also carries the GHASH state `x` of what came before.
    #[target_feature(enable = "avx2,pclmulqdq,vpclmulqdq")]
    #[inline]
    fn add_stretch_pair(&self, sum: &mut ProductSum, j: usize, block: __m256i, x: __m128i) {
        let block = if j == 0 {
            _mm256_xor_si256(block, _mm256_zextsi128_si256(x))
        } else {
            block
        };
        let at = STRETCH_POWERS + 2 * j;
        sum.add(block, self.power_pair(at), self.middle_pair(at));
    }

    /// GHASH state `x` after 1 to 16 more blocks: (x + b_1) H^k + b_2 H^(k-1) + … + b_k H,
    /// with one reduction.
    #[target_feature(enable = "avx2,aes,pclmulqdq,vaes,vpclmulqdq")]
    #[inline]
    fn hash_up_to_16(&self, x: __m128i, blocks: &[__m128i]) -> __m128i {
        let k = blocks.len().min(16);
        let mut sum = ProductSum::new();
        for (j, pair) in blocks[..k].chunks(2).enumerate() {
            let high = pair.get(1).copied().unwrap_or(_mm_setzero_si128());
            let mut block = _mm256_set_m128i(high, pair[0]);
            if j == 0 {
                block = _mm256_xor_si256(block, _mm256_zextsi128_si256(x));
            }
            let at = POWERS - k + 2 * j;
            sum.add(block, self.power_pair(at), self.middle_pair(at));
        }
        sum.reduce()
    }

    /// Powers `i` and `i + 1` (H^(18-i), H^(17-i)) as one vector; `i` at most 17.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn power_pair(&self, i: usize) -> __m256i {
        pair(&self.powers, i)
    }

    /// Karatsuba factors of powers `i` and `i + 1` as one vector.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn middle_pair(&self, i: usize) -> __m256i {
        pair(&self.middles, i)
    }
}

/// Entries `i` and `i + 1` of `table` as one vector.
#[target_feature(enable = "avx2")]
#[inline]
fn pair(table: &[__m128i; POWERS + 1], i: usize) -> __m256i {
    let pair: &[__m128i; 2] = table[i..i + 2]
        .try_into()
        .unwrap_or_else(|_| unreachable!("a range of two"));
    // SAFETY: `pair` is 32 readable bytes; the load has no alignment requirement.
    unsafe { _mm256_loadu_si256(pair.as_ptr().cast()) }
}

/// Whether two tags are equal, in time independent of where they differ.
#[target_feature(enable = "sse4.1")]
#[inline]
fn tags_equal(a: __m128i, b: __m128i) -> bool {
    let diff = _mm_xor_si128(a, b);
    _mm_testz_si128(diff, diff) == 1
}

impl Drop for VaesGcm {
    fn drop(&mut self) {
        // SAFETY: the fields are plain vectors, valid as all zeros, written through their own
        // exclusive references; volatile so that the clearing is not optimised away.
        unsafe {
            std::ptr::write_volatile(&mut self.round_keys, std::mem::zeroed());
            std::ptr::write_volatile(&mut self.powers, std::mem::zeroed());
            std::ptr::write_volatile(&mut self.middles, std::mem::zeroed());
        }
    }
}

/// A sum of carry-less products, unreduced, by Karatsuba: per lane the low and high halves'
/// products and the product of the halves' sums.
struct ProductSum {
    low: __m256i,
    middle: __m256i,
    high: __m256i,
}

impl ProductSum {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new() -> Self {
        ProductSum {
            low: _mm256_setzero_si256(),
            middle: _mm256_setzero_si256(),
            high: _mm256_setzero_si256(),
        }
    }

    /// Adds the lane-wise products of `a` and `b`; `b_middle` holds each lane's `b` halves
    /// xored, in its low half.
    #[target_feature(enable = "avx2,pclmulqdq,vpclmulqdq")]
    #[inline]
    fn add(&mut self, a: __m256i, b: __m256i, b_middle: __m256i) {
        self.low = _mm256_xor_si256(self.low, _mm256_clmulepi64_epi128::<0x00>(a, b));
        self.high = _mm256_xor_si256(self.high, _mm256_clmulepi64_epi128::<0x11>(a, b));
        let a_middle = _mm256_xor_si256(a, _mm256_shuffle_epi32::<0x4e>(a));
        self.middle = _mm256_xor_si256(
            self.middle,
            _mm256_clmulepi64_epi128::<0x00>(a_middle, b_middle),
        );
    }

    /// Both lanes' sum reduced to one field element.
    #[target_feature(enable = "avx2,pclmulqdq")]
    #[inline]
    fn reduce(self) -> __m128i {
        let fold =
            |v: __m256i| _mm_xor_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let (low, high) = (fold(self.low), fold(self.high));
        // Karatsuba: the cross terms are the halves' product less the outer two.
        let middle = _mm_xor_si128(fold(self.middle), _mm_xor_si128(low, high));
        reduce(low, middle, high)
    }
}

/// The 256-bit product (`low` at bit 0, `middle` at bit 64, `high` at bit 128, reflected)
/// reduced modulo x^128 + x^7 + x^2 + x + 1: its 128 high-degree coefficients (the low bits)
/// are folded down 64 at a time.
#[target_feature(enable = "sse2,pclmulqdq")]
#[inline]
fn reduce(low: __m128i, middle: __m128i, high: __m128i) -> __m128i {
    // x^128 = x^7 + x^2 + x + 1: the 1 moves a coefficient 128 places, the rest is one
    // carry-less product by x^63 + x^62 + x^57, reflected (the product itself is one off).
    let poly = _mm_set_epi64x(0xc200_0000_0000_0000_u64 as i64, 0);
    let t = _mm_clmulepi64_si128::<0x10>(low, poly);
    let middle = _mm_xor_si128(_mm_xor_si128(middle, _mm_shuffle_epi32::<0x4e>(low)), t);
    let t = _mm_clmulepi64_si128::<0x10>(middle, poly);
    _mm_xor_si128(_mm_xor_si128(high, _mm_shuffle_epi32::<0x4e>(middle)), t)
}

/// `a` times `b` in GHASH's field, both in the reflected form, `b` also times x^-1.
#[target_feature(enable = "sse2,pclmulqdq")]
#[inline]
fn gf_mul(a: __m128i, b: __m128i) -> __m128i {
    let low = _mm_clmulepi64_si128::<0x00>(a, b);
    let high = _mm_clmulepi64_si128::<0x11>(a, b);
    let middle = _mm_xor_si128(
        _mm_clmulepi64_si128::<0x01>(a, b),
        _mm_clmulepi64_si128::<0x10>(a, b),
    );
    reduce(low, middle, high)
}

/// `h` (reflected) times x^-1: a left shift of the reflected integer; a coefficient shifted
/// out (x^-1 itself) comes back as x^127 + x^6 + x + 1.
#[target_feature(enable = "sse4.1")]
#[inline]
fn times_x_inverse(h: __m128i) -> __m128i {
    let low = _mm_extract_epi64::<0>(h) as u64;
    let high = _mm_extract_epi64::<1>(h) as u64;
    let v = (u128::from(high) << 64) | u128::from(low);
    let carry = v >> 127;
    let v = (v << 1) ^ (carry * 0xc200_0000_0000_0000_0000_0000_0000_0001);
    _mm_set_epi64x((v >> 64) as u64 as i64, v as u64 as i64)
}

/// The shuffle that reverses the 16 bytes of a block.
#[target_feature(enable = "sse2")]
#[inline]
fn byte_reverse() -> __m128i {
    _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
}

/// J0 (the IV and a 32-bit big-endian 1) and, for the data, counters 2 and 3 in the two lanes,
/// byte-reversed so that the counter is the low 32-bit word of each lane.
#[target_feature(enable = "avx2")]
#[inline]
fn first_counters(iv: &[u8; 12]) -> (__m128i, __m256i) {
    let (head, tail) = iv.split_at(8);
    let head = u64::from_le_bytes(head.try_into().unwrap_or_else(|_| unreachable!()));
    let tail = u32::from_le_bytes(tail.try_into().unwrap_or_else(|_| unreachable!()));
    let j0 = _mm_set_epi32(0x0100_0000, tail as i32, (head >> 32) as i32, head as i32);
    let reversed = _mm256_broadcastsi128_si256(_mm_shuffle_epi8(j0, byte_reverse()));
    let counters = _mm256_add_epi32(reversed, _mm256_setr_epi32(1, 0, 0, 0, 2, 0, 0, 0));
    (j0, counters)
}

/// The next `M` vectors (2M blocks) of key stream, advancing `counters`, padded with zeros
/// to 8 vectors; and J0 enciphered (the tag's mask), in the same rounds.
#[target_feature(enable = "avx2,aes,vaes")]
#[inline]
fn keystream<const ROUNDS: usize, const M: usize>(
    round_keys: &[__m256i; 15],
    counters: &mut __m256i,
    j0: __m128i,
) -> ([__m256i; 8], __m128i) {
    let reverse = _mm256_broadcastsi128_si256(byte_reverse());
    let mut blocks = [_mm256_setzero_si256(); M];
    for block in &mut blocks {
        *block = _mm256_xor_si256(_mm256_shuffle_epi8(*counters, reverse), round_keys[0]);
        *counters = _mm256_add_epi32(*counters, two_blocks());
    }
    let mut mask = _mm_xor_si128(j0, _mm256_castsi256_si128(round_keys[0]));
    for key in &round_keys[1..ROUNDS] {
        for block in &mut blocks {
            *block = _mm256_aesenc_epi128(*block, *key);
        }
        mask = _mm_aesenc_si128(mask, _mm256_castsi256_si128(*key));
    }
    for block in &mut blocks {
        *block = _mm256_aesenclast_epi128(*block, round_keys[ROUNDS]);
    }
    let mask = _mm_aesenclast_si128(mask, _mm256_castsi256_si128(round_keys[ROUNDS]));
    (widen(blocks), mask)
}

/// `M` vectors padded with zeros to 8.
#[target_feature(enable = "avx2")]
#[inline]
fn widen<const M: usize>(v: [__m256i; M]) -> [__m256i; 8] {
    let mut out = [_mm256_setzero_si256(); 8];
    out[..M].copy_from_slice(&v);
    out
}

/// The counter step of one vector: two blocks.
#[target_feature(enable = "avx2")]
#[inline]
fn two_blocks() -> __m256i {
    _mm256_setr_epi32(2, 0, 0, 0, 2, 0, 0, 0)
}

/// Enciphers (`SEAL`) or deciphers the last 1 to 31 bytes of the data with `stream` (two
/// blocks of key stream) and returns their ciphertext, reflected, zero-padded to a vector.
#[target_feature(enable = "avx2")]
#[inline]
fn last_pair<const SEAL: bool>(last: &mut [u8], stream: __m256i) -> __m256i {
    let reverse = byte_reverse();
    let (low_stream, high_stream) = (
        _mm256_castsi256_si128(stream),
        _mm256_extracti128_si256::<1>(stream),
    );
    let (whole, partial) = last.as_chunks_mut::<16>();
    let (low, partial_stream) = match whole.first_mut() {
        Some(bytes) => {
            let input = load128(bytes);
            let output = _mm_xor_si128(input, low_stream);
            store128(bytes, output);
            (Some(if SEAL { output } else { input }), high_stream)
        }
        None => (None, low_stream),
    };
    let high = if partial.is_empty() {
        _mm_setzero_si128()
    } else {
        let keep = partial_mask(partial.len());
        let input = load_partial(partial);
        let output = _mm_and_si128(_mm_xor_si128(input, partial_stream), keep);
        store_partial(partial, output);
        if SEAL {
            output
        } else {
            input
        }
    };
    match low {
        Some(low) => _mm256_set_m128i(
            _mm_shuffle_epi8(high, reverse),
            _mm_shuffle_epi8(low, reverse),
        ),
        None => _mm256_set_m128i(_mm_setzero_si128(), _mm_shuffle_epi8(high, reverse)),
    }
}

/// One block enciphered with the first lane of `round_keys`.
#[target_feature(enable = "avx2,aes")]
#[inline]
fn encrypt_block(round_keys: &[__m256i; 15], rounds: usize, block: __m128i) -> __m128i {
    let mut state = _mm_xor_si128(block, _mm256_castsi256_si128(round_keys[0]));
    for key in &round_keys[1..rounds] {
        state = _mm_aesenc_si128(state, _mm256_castsi256_si128(*key));
    }
    _mm_aesenclast_si128(state, _mm256_castsi256_si128(round_keys[rounds]))
}

/// GCM's last GHASH block, the AAD and data lengths in bits, reflected.
#[target_feature(enable = "sse2")]
#[inline]
fn length_block(aad_len: usize, data_len: usize) -> __m128i {
    _mm_set_epi64x((aad_len as u64 * 8) as i64, (data_len as u64 * 8) as i64)
}

/// One step of the AES key schedule: `key` with each word xored into the next, plus `assist`
/// (a word of AESKEYGENASSIST's output, broadcast).
#[target_feature(enable = "sse2")]
#[inline]
fn schedule_step(key: __m128i, assist: __m128i) -> __m128i {
    let mut key = key;
    key = _mm_xor_si128(key, _mm_slli_si128::<4>(key));
    key = _mm_xor_si128(key, _mm_slli_si128::<4>(key));
    key = _mm_xor_si128(key, _mm_slli_si128::<4>(key));
    _mm_xor_si128(key, assist)
}

/// FIPS 197's key expansion for AES-128 into round keys 0 to 10.
#[target_feature(enable = "sse2,aes")]
fn expand_128(key: __m128i, keys: &mut [__m128i; 15]) {
    macro_rules! round {
        ($i:expr, $rcon:expr) => {
            keys[$i] = schedule_step(
                keys[$i - 1],
                _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>(keys[$i - 1])),
            );
        };
    }
    keys[0] = key;
    round!(1, 0x01);
    round!(2, 0x02);
    round!(3, 0x04);
    round!(4, 0x08);
    round!(5, 0x10);
    round!(6, 0x20);
    round!(7, 0x40);
    round!(8, 0x80);
    round!(9, 0x1b);
    round!(10, 0x36);
}

/// FIPS 197's key expansion for AES-256 into round keys 0 to 14.
#[target_feature(enable = "sse2,aes")]
fn expand_256(low: __m128i, high: __m128i, keys: &mut [__m128i; 15]) {
    // Even round keys take RotWord+SubWord+Rcon of the previous key's last word, odd ones
    // SubWord alone.
    macro_rules! even {
        ($i:expr, $rcon:expr) => {
            keys[$i] = schedule_step(
                keys[$i - 2],
                _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>(keys[$i - 1])),
            );
        };
    }
    macro_rules! odd {
        ($i:expr) => {
            keys[$i] = schedule_step(
                keys[$i - 2],
                _mm_shuffle_epi32::<0xaa>(_mm_aeskeygenassist_si128::<0>(keys[$i - 1])),
            );
        };
    }
    keys[0] = low;
    keys[1] = high;
    even!(2, 0x01);
    odd!(3);
    even!(4, 0x02);
    odd!(5);
    even!(6, 0x04);
    odd!(7);
    even!(8, 0x08);
    odd!(9);
    even!(10, 0x10);
    odd!(11);
    even!(12, 0x20);
    odd!(13);
    even!(14, 0x40);
}

/// The first `len` (1 to 15) bytes of a block all ones, the rest zero.
#[target_feature(enable = "sse2")]
#[inline]
fn partial_mask(len: usize) -> __m128i {
    const ONES_THEN_ZEROS: [u8; 32] = {
        let mut bytes = [0u8; 32];
        let mut i = 0;
        while i < 16 {
            bytes[i] = 0xff;
            i += 1;
        }
        bytes
    };
    let start = 16 - len.min(16);
    match ONES_THEN_ZEROS[start..start + 16].try_into() {
        Ok(bytes) => load128(bytes),
        Err(_) => unreachable!("a range of 16"),
    }
}

#[target_feature(enable = "sse2")]
#[inline]
fn load128(bytes: &[u8; 16]) -> __m128i {
    // SAFETY: 16 readable bytes; the load has no alignment requirement.
    unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
}

#[target_feature(enable = "sse2")]
#[inline]
fn store128(bytes: &mut [u8; 16], v: __m128i) {
    // SAFETY: 16 writable bytes; the store has no alignment requirement.
    unsafe { _mm_storeu_si128(bytes.as_mut_ptr().cast(), v) }
}

#[target_feature(enable = "avx2")]
#[inline]
fn load256(bytes: &[u8; 32]) -> __m256i {
    // SAFETY: 32 readable bytes; the load has no alignment requirement.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

#[target_feature(enable = "avx2")]
#[inline]
fn store256(bytes: &mut [u8; 32], v: __m256i) {
    // SAFETY: 32 writable bytes; the store has no alignment requirement.
    unsafe { _mm256_storeu_si256(bytes.as_mut_ptr().cast(), v) }
}

/// Up to 15 bytes into the low bytes of a block, the rest zero. Lengths of 4, 8 and 12 (ESP
/// pads to 4, its AAD is 8 or 12 bytes) are loaded whole-word; others go through a buffer.
#[target_feature(enable = "sse4.1")]
#[inline]
fn load_partial(bytes: &[u8]) -> __m128i {
    match bytes.len() {
        4 => _mm_cvtsi32_si128(word(bytes, 0) as i32),
        8 => _mm_set_epi64x(0, dword(bytes) as i64),
        12 => _mm_set_epi32(
            0,
            word(bytes, 8) as i32,
            word(bytes, 4) as i32,
            word(bytes, 0) as i32,
        ),
        len => {
            let mut block = [0u8; 16];
            block[..len.min(16)].copy_from_slice(&bytes[..len.min(16)]);
            load128(&block)
        }
    }
}

/// The low `bytes.len()` (up to 15) bytes of `v` into `bytes`.
#[target_feature(enable = "sse4.1")]
#[inline]
fn store_partial(bytes: &mut [u8], v: __m128i) {
    let len = bytes.len().min(16);
    let low = (_mm_extract_epi64::<0>(v) as u64).to_le_bytes();
    let high = (_mm_extract_epi64::<1>(v) as u64).to_le_bytes();
    if len <= 8 {
        bytes[..len].copy_from_slice(&low[..len]);
    } else {
        let (first, rest) = bytes.split_at_mut(8);
        first.copy_from_slice(&low);
        rest[..len - 8].copy_from_slice(&high[..len - 8]);
    }
}

/// The little-endian 32-bit word at `at` (4 bytes must be there).
#[inline]
fn word(bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..at + 4).map(<[u8; 4]>::try_from) {
        Some(Ok(word)) => u32::from_le_bytes(word),
        _ => 0,
    }
}

/// The little-endian 64-bit word at the start (8 bytes must be there).
#[inline]
fn dword(bytes: &[u8]) -> u64 {
    match bytes.get(..8).map(<[u8; 8]>::try_from) {
        Some(Ok(word)) => u64::from_le_bytes(word),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Whether to run: the CPU must have the instructions; a test on one without says so.
    /// Whether the tests can run here; a skip is said out loud, and refused where the
    /// environment says the CPU has the instructions (RRI_EXPECT_VAES=1, set by scripts/test
    /// from /proc/cpuinfo), so that CI cannot pass without testing the engine it would pick.
    fn cpu_ok() -> bool {
        let ok = supported();
        if !ok {
            assert!(
                std::env::var_os("RRI_EXPECT_VAES").is_none_or(|v| v != "1"),
                "RRI_EXPECT_VAES=1 but VaesGcm is not supported here"
            );
            eprintln!("SKIPPED: this CPU lacks VAES/VPCLMULQDQ/AVX2");
        }
        ok
    }

    fn ring_seal(key: &[u8], iv: &[u8; 12], aad: &[u8], data: &mut [u8]) -> [u8; 16] {
        let algorithm = if key.len() == 16 {
            &AES_128_GCM
        } else {
            &AES_256_GCM
        };
        let key = LessSafeKey::new(UnboundKey::new(algorithm, key).unwrap());
        let tag = key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), data)
            .unwrap();
        tag.as_ref().try_into().unwrap()
    }

    /// McGrew and Viega's GCM test cases 1-4 and 13-16 (the 96-bit-IV ones, AES-128 and
    /// AES-256): key, IV, plaintext, AAD, ciphertext, tag.
    const VECTORS: [[&str; 6]; 8] = [
        ["00000000000000000000000000000000", "000000000000000000000000", "", "", "",
         "58e2fccefa7e3061367f1d57a4e7455a"],
        ["00000000000000000000000000000000", "000000000000000000000000",
         "00000000000000000000000000000000", "", "0388dace60b6a392f328c2b971b2fe78",
         "ab6e47d42cec13bdf53a67b21257bddf"],
        ["feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
         "",
         "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
         "4d5c2af327cd64a62cf35abd2ba6fab4"],
        ["feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
         "feedfacedeadbeeffeedfacedeadbeefabaddad2",
         "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
         "5bc94fbc3221a5db94fae95ae7121a47"],
        ["0000000000000000000000000000000000000000000000000000000000000000",
         "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"],
        ["0000000000000000000000000000000000000000000000000000000000000000",
         "000000000000000000000000", "00000000000000000000000000000000", "",
         "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"],
        ["feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
         "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
         "",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
         "b094dac5d93471bdec1a502270e3cc6c"],
        ["feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
         "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
         "feedfacedeadbeeffeedfacedeadbeefabaddad2",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
         "76fc6ece0f4e1768cddf8853bb2d551b"],
    ];

    #[test]
    fn known_answers() {
        if !cpu_ok() {
            return;
        }
        for (n, [key, iv, plain, aad, cipher, tag]) in VECTORS.iter().enumerate() {
            let (key, aad) = (hex(key), hex(aad));
            let iv: [u8; 12] = hex(iv).try_into().unwrap();
            let gcm = VaesGcm::new(&key).unwrap();
            let mut data = hex(plain);
            let mut out = [0u8; 16];
            gcm.seal_in_place(&mut data, &iv, &aad, &mut out);
            assert_eq!(data, hex(cipher), "vector {n}: ciphertext");
            assert_eq!(out.to_vec(), hex(tag), "vector {n}: tag");
            assert!(
                gcm.open_in_place(&mut data, &iv, &aad, &out),
                "vector {n}: opens"
            );
            assert_eq!(data, hex(plain), "vector {n}: opened");
        }
    }

    #[test]
    fn refuses_other_key_lengths() {
        if !cpu_ok() {
            return;
        }
        for len in [0, 15, 17, 24, 31, 33] {
            let err = VaesGcm::new(&vec![1; len]).unwrap_err();
            assert_eq!(err, Error::KeyLength(len), "{len}-byte key");
        }
    }

    #[test]
    fn rejects_a_wrong_tag_aad_or_ciphertext() {
        if !cpu_ok() {
            return;
        }
        let gcm = VaesGcm::new(&[7; 16]).unwrap();
        let iv = [3; 12];
        let plain: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let mut sealed = plain.clone();
        let mut tag = [0; 16];
        gcm.seal_in_place(&mut sealed, &iv, b"spi+seq!", &mut tag);
        for flip in [0, 127, 128, 299] {
            let mut data = sealed.clone();
            data[flip] ^= 1;
            assert!(
                !gcm.open_in_place(&mut data, &iv, b"spi+seq!", &tag),
                "byte {flip}"
            );
        }
        let mut data = sealed.clone();
        assert!(!gcm.open_in_place(&mut data, &iv, b"spi+seq?", &tag));
        let mut bad = tag;
        bad[15] ^= 0x80;
        let mut data = sealed.clone();
        assert!(!gcm.open_in_place(&mut data, &iv, b"spi+seq!", &bad));
        let mut data = sealed;
        assert!(gcm.open_in_place(&mut data, &iv, b"spi+seq!", &tag));
        assert_eq!(data, plain);
    }

    #[test]
    fn one_key_on_four_threads() {
        if !cpu_ok() {
            return;
        }
        let gcm = std::sync::Arc::new(VaesGcm::new(&[9; 32]).unwrap());
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let gcm = gcm.clone();
                std::thread::spawn(move || {
                    for i in 0..2000usize {
                        let len = (i * 7 + usize::from(t)) % 1500;
                        let mut data = vec![t; len];
                        let mut expected = data.clone();
                        let iv = [t; 12];
                        let mut tag = [0; 16];
                        gcm.seal_in_place(&mut data, &iv, &[t; 8], &mut tag);
                        let ring_tag = ring_seal(&[9; 32], &iv, &[t; 8], &mut expected);
                        assert_eq!((data, tag), (expected, ring_tag));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Sealing agrees with ring byte for byte, and opening gives the plaintext back, over
        /// both key sizes, every tail length and AADs across block boundaries.
        #[test]
        fn agrees_with_ring(
            long_key in any::<bool>(),
            key in proptest::collection::vec(any::<u8>(), 32),
            iv in any::<[u8; 12]>(),
            aad in proptest::collection::vec(any::<u8>(), 0..40),
            plain in proptest::collection::vec(any::<u8>(), 0..1700),
        ) {
            if !supported() {
                return Ok(());
            }
            let key = if long_key { &key[..] } else { &key[..16] };
            let gcm = VaesGcm::new(key).unwrap();
            let mut ours = plain.clone();
            let mut tag = [0u8; 16];
            gcm.seal_in_place(&mut ours, &iv, &aad, &mut tag);
            let mut theirs = plain.clone();
            let ring_tag = ring_seal(key, &iv, &aad, &mut theirs);
            prop_assert_eq!(&ours, &theirs);
            prop_assert_eq!(tag, ring_tag);
            prop_assert!(gcm.open_in_place(&mut ours, &iv, &aad, &tag));
            prop_assert_eq!(ours, plain);
        }
    }
}
