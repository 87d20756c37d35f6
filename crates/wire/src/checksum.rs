//! The Internet checksum (RFC 1071) with incremental update (RFC 1624).

/// Adds `data` as big-endian 16-bit words to a running 32-bit sum; an odd final byte is
/// padded with zero. The sum is folded by [`fold`].
///
/// The words are added four bytes at a time into 64 bits (a big-endian 32-bit word is
/// congruent modulo 0xffff to the sum of its two 16-bit halves), then folded back: the
/// result is congruent to `acc` plus the 16-bit words, nonzero if that sum is, and at most
/// 0xffff. (One 16-bit add per pair with an overflow check each was a third of an IPv4
/// header check's cost.)
#[inline]
pub fn sum(acc: u32, data: &[u8]) -> u32 {
    let mut total = u64::from(acc);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        total += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let mut pairs = words.remainder().chunks_exact(2);
    for p in &mut pairs {
        total += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        total += u64::from(*last) << 8;
    }
    // 64 -> 33 -> 32 -> 17 -> 16 bits; each step keeps the value modulo 0xffff and never
    // turns a nonzero value into zero.
    total = (total & 0xffff_ffff) + (total >> 32);
    total = (total & 0xffff_ffff) + (total >> 32);
    total = (total & 0xffff) + (total >> 16);
    total = (total & 0xffff) + (total >> 16);
    total as u32
}

/// Folds a running sum to 16 bits and complements it: the value to store in a checksum field.
#[inline]
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The checksum of `data`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    fold(sum(0, data))
}

/// Updates checksum `old_check` for one 16-bit field changing from `old` to `new`
/// (RFC 1624 equation 3: HC' = ~(~HC + ~m + m')).
#[inline]
pub fn update16(old_check: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!old_check) + u32::from(!old) + u32::from(new);
    fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 before complement.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    #[test]
    fn known_ipv4_header() {
        // Header from the draft-mcgrew-gcm-test-01 packets: checksum 0x4dcc.
        let mut h = [
            0x45, 0x00, 0x00, 0x3e, 0x69, 0x8f, 0x00, 0x00, 0x80, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x01, 0x02, 0xc0, 0xa8, 0x01, 0x01,
        ];
        assert_eq!(checksum(&h), 0x4dcc);
        h[10..12].copy_from_slice(&0x4dccu16.to_be_bytes());
        assert_eq!(checksum(&h), 0);
    }

    /// The reference: RFC 1071's loop, one 16-bit word at a time.
    fn sum_by_words(mut acc: u64, data: &[u8]) -> u64 {
        for pair in data.chunks(2) {
            acc += u64::from(pair[0]) << 8 | u64::from(*pair.get(1).unwrap_or(&0));
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc
    }

    proptest! {
        #[test]
        fn sum_agrees_with_word_by_word(data in proptest::collection::vec(any::<u8>(), 0..3000),
                                        acc in any::<u32>()) {
            let fast = sum(acc, &data);
            prop_assert!(fast <= 0xffff);
            prop_assert_eq!(u64::from(fast), sum_by_words(u64::from(acc), &data));
        }

        #[test]
        fn incremental_matches_full(mut words in proptest::collection::vec(any::<u16>(), 1..40),
                                    at in any::<prop::sample::Index>(), new in any::<u16>()) {
            let bytes = |w: &[u16]| w.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<_>>();
            let before = checksum(&bytes(&words));
            let i = at.index(words.len());
            let old = words[i];
            words[i] = new;
            let after = checksum(&bytes(&words));
            // One's complement has two zeros; compare as sums.
            let inc = update16(before, old, new);
            prop_assert!(inc == after || (inc == 0xffff && after == 0) || (inc == 0 && after == 0xffff));
        }
    }
}
