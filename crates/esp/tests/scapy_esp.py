#!/usr/bin/env python3
"""Independent ESP for rri's cross-check tests, done by scapy.

Usage: scapy_esp.py MODE SPI ALGO KEYMAT_HEX SRC DST SPORT DPORT ESN
  MODE    decrypt: each stdin line "SEQ OUTER_HEX" is an outer IPv4 packet rri built;
                   prints the inner packet scapy decrypted (and authenticated), as hex.
          encrypt: each stdin line "SEQ INNER_HEX" is an inner IPv4 packet; prints the
                   outer packet scapy built with that sequence number, as hex.
  ALGO    AES-GCM or CHACHA20-POLY1305 (scapy's names); KEYMAT is key followed by salt.
  SPORT/DPORT  UDP encapsulation ports, or 0 0 for plain ESP.
  ESN     1 for extended sequence numbers.
A line that fails prints "ERROR <reason>" so the caller can say which packet failed.
"""
import sys

from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP, SecurityAssociation


def main():
    mode, spi, algo, keymat, src, dst, sport, dport, esn = sys.argv[1:10]
    spi, sport, dport, esn = int(spi, 0), int(sport), int(dport), esn == "1"
    key = bytes.fromhex(keymat)
    nat_t = UDP(sport=sport, dport=dport, chksum=0) if sport else None
    for line in sys.stdin:
        seq_text, hex_packet = line.split()
        seq = int(seq_text)
        sa = SecurityAssociation(
            ESP,
            spi=spi,
            seq_num=seq & 0xFFFFFFFF,
            crypt_algo=algo,
            crypt_key=key,
            tunnel_header=IP(src=src, dst=dst),
            nat_t_header=nat_t,
            esn_en=esn,
            esn=seq >> 32,
        )
        try:
            if mode == "decrypt":
                inner = sa.decrypt(IP(bytes.fromhex(hex_packet)))
                print(bytes(inner).hex())
            else:
                outer = sa.encrypt(IP(bytes.fromhex(hex_packet)))
                print(bytes(outer).hex())
        except Exception as e:  # report per packet, keep going
            print("ERROR", type(e).__name__, str(e).replace("\n", " "))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
