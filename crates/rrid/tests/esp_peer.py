#!/usr/bin/env python3
"""An independent ESP peer for rri's namespace test, done by scapy.

Usage: esp_peer.py IFACE LOCAL REMOTE SPI_IN KEY_IN SPI_OUT KEY_OUT SECONDS
Listens on IFACE for ESP from REMOTE (rri) with SPI_IN, decrypts it with KEY_IN (AES-GCM-128
key and salt, hex), answers ICMP echo requests found inside with echo replies encrypted with
SPI_OUT / KEY_OUT, sent back to the MAC address the request came from. Runs SECONDS, then prints
"decrypted N replied M failed K".
"""
import sys

from scapy.all import IP, ICMP, ESP, Ether, AsyncSniffer, conf, sendp
from scapy.layers.ipsec import SecurityAssociation


def main():
    iface, local, remote, spi_in, key_in, spi_out, key_out, seconds = sys.argv[1:9]
    conf.verb = 0
    rx = SecurityAssociation(ESP, spi=int(spi_in), crypt_algo="AES-GCM",
                             crypt_key=bytes.fromhex(key_in),
                             tunnel_header=IP(src=remote, dst=local))
    tx = SecurityAssociation(ESP, spi=int(spi_out), crypt_algo="AES-GCM",
                             crypt_key=bytes.fromhex(key_out),
                             tunnel_header=IP(src=local, dst=remote))
    counts = {"decrypted": 0, "replied": 0, "failed": 0}

    def on_packet(pkt):
        if not pkt.haslayer(ESP) or pkt[IP].src != remote or pkt[ESP].spi != int(spi_in):
            return
        try:
            inner = rx.decrypt(pkt[IP])
        except Exception as e:  # bad tag, replay: count and go on
            counts["failed"] += 1
            print("decrypt failed:", e, file=sys.stderr)
            return
        counts["decrypted"] += 1
        if inner.haslayer(ICMP) and inner[ICMP].type == 8:
            reply = IP(src=inner[IP].dst, dst=inner[IP].src, ttl=64) / ICMP(
                type=0, id=inner[ICMP].id, seq=inner[ICMP].seq) / bytes(inner[ICMP].payload)
            # Straight back to the MAC it came from: the peer's kernel has no say in ESP.
            frame = Ether(src=pkt[Ether].dst, dst=pkt[Ether].src) / tx.encrypt(reply)
            sendp(frame, iface=iface)
            counts["replied"] += 1

    # No BPF filter: scapy compiles those with tcpdump, which is not installed.
    sniffer = AsyncSniffer(iface=iface, lfilter=lambda p: p.haslayer(ESP), prn=on_packet, store=False)
    sniffer.start()
    import time
    time.sleep(float(seconds))
    sniffer.stop()
    print("decrypted {decrypted} replied {replied} failed {failed}".format(**counts))


if __name__ == "__main__":
    main()
