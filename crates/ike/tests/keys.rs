//! Key derivation against Python's standard-library HMAC as the independent implementation
//! of RFC 7296's prf+ (section 2.13), SKEYSEED and the IKE SA keys (2.14), child SA key
//! material (2.17) and the pre-shared-key AUTH value (2.15).

use ike::keys::{child_keys, ike_keys, psk_auth, verify_auth, Prf};
use std::process::Command;

const PY: &str = r#"
import hmac, hashlib, sys
H = {5: hashlib.sha256, 6: hashlib.sha384, 7: hashlib.sha512}[int(sys.argv[1])]
prf = lambda k, d: hmac.new(k, d, H).digest()
def prf_plus(k, s, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = prf(k, t + s + bytes([i])); out += t; i += 1
    return out[:n]
x = lambda s: bytes.fromhex(s)
ni, nr, gir, spii, spir, psk, msg, idb = map(x, sys.argv[2:10])
enc = int(sys.argv[10])
p = H().digest_size
print(prf_plus(x("0b" * 20), b"seed", 1000).hex())
skeyseed = prf(ni + nr, gir)
km = prf_plus(skeyseed, ni + nr + spii + spir, p + 2 * enc + 2 * p)
sk_d, sk_ei, sk_er, sk_pi, sk_pr = km[:p], km[p:p+enc], km[p+enc:p+2*enc], km[p+2*enc:2*p+2*enc], km[2*p+2*enc:]
print(sk_d.hex(), sk_ei.hex(), sk_er.hex(), sk_pi.hex(), sk_pr.hex())
ck = prf_plus(sk_d, ni + nr, 2 * enc)
print(ck[:enc].hex(), ck[enc:].hex())
ck2 = prf_plus(sk_d, gir + ni + nr, 2 * enc)
print(ck2[:enc].hex(), ck2[enc:].hex())
print(prf(prf(psk, b"Key Pad for IKEv2"), msg + nr + prf(sk_pi, idb)).hex())
"#;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn derivations_agree_with_python_hmac() {
    let ni: Vec<u8> = (0..32).collect();
    let nr: Vec<u8> = (32..80).collect();
    let gir: Vec<u8> = (0..32).map(|i| i * 7).collect();
    let (spi_i, spi_r) = (0x1122_3344_5566_7788u64, 0x99aa_bbcc_ddee_ff00u64);
    let psk = b"a pre-shared key";
    let message: Vec<u8> = (0..200).map(|i| (i * 3) as u8).collect();
    let id_body = [1u8, 0, 0, 0, 192, 0, 2, 1];
    for prf in [Prf::HmacSha256, Prf::HmacSha384, Prf::HmacSha512] {
        for enc in [20usize, 36] {
            let out = Command::new("python3")
                .args(["-c", PY, &prf.id().to_string()])
                .args(
                    [
                        &ni,
                        &nr,
                        &gir,
                        &spi_i.to_be_bytes().to_vec(),
                        &spi_r.to_be_bytes().to_vec(),
                        &psk.to_vec(),
                        &message,
                        &id_body.to_vec(),
                    ]
                    .map(|b| hex(b)),
                )
                .arg(enc.to_string())
                .output()
                .expect("python3 runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(
                hex(&prf.prf_plus(&[0x0b; 20], &[b"seed"], 1000).unwrap()),
                lines[0]
            );
            let k = ike_keys(prf, &ni, &nr, &gir, spi_i, spi_r, enc);
            assert_eq!(
                format!(
                    "{} {} {} {} {}",
                    hex(&k.sk_d),
                    hex(&k.sk_ei),
                    hex(&k.sk_er),
                    hex(&k.sk_pi),
                    hex(&k.sk_pr)
                ),
                lines[1]
            );
            let (i, r) = child_keys(prf, &k.sk_d, None, &ni, &nr, enc);
            assert_eq!(format!("{} {}", hex(&i), hex(&r)), lines[2]);
            let (i, r) = child_keys(prf, &k.sk_d, Some(&gir), &ni, &nr, enc);
            assert_eq!(format!("{} {}", hex(&i), hex(&r)), lines[3]);
            let auth = psk_auth(prf, psk, &message, &nr, &k.sk_pi, &id_body);
            assert_eq!(hex(&auth), lines[4]);
            assert!(verify_auth(&auth, &auth.clone()));
            let mut wrong = auth.clone();
            wrong[0] ^= 1;
            assert!(!verify_auth(&auth, &wrong));
            assert!(!verify_auth(&auth, &auth[1..]));
        }
    }
}

#[test]
fn prf_plus_refuses_more_than_255_blocks() {
    assert!(Prf::HmacSha256.prf_plus(b"k", &[b"s"], 255 * 32).is_some());
    assert!(Prf::HmacSha256
        .prf_plus(b"k", &[b"s"], 255 * 32 + 1)
        .is_none());
}
