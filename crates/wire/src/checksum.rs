//! The Internet checksum (RFC 1071) with incremental update (RFC 1624).

/// Adds `data` as big-endian 16-bit words to a running 32-bit sum; an odd final byte is
/// padded with zero. The sum is folded by [`fold`].
#[inline]
pub fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([pair[0], pair[1]])));
        // Fold early so that even jumbo frames never overflow 32 bits.
        if acc >= 0x8000_0000 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
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

    proptest! {
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
