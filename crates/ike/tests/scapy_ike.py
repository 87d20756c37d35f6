"""Cross-checks rri's IKEv2 codec with scapy's (scapy.contrib.ikev2).

  build            print the hex of an IKE_SA_INIT request built by scapy
  dissect HEX      print scapy's reading of a message, one "field=value" per line
"""
import sys
from scapy.contrib.ikev2 import (IKEv2, IKEv2_SA, IKEv2_Proposal, IKEv2_Transform,
                                 IKEv2_KE, IKEv2_Nonce, IKEv2_Notify, IKEv2_TSi,
                                 IPv4TrafficSelector)


def build():
    transforms = (IKEv2_Transform(transform_type=1, transform_id=20, key_length=256)
                  / IKEv2_Transform(transform_type=2, transform_id=5)
                  / IKEv2_Transform(transform_type=4, transform_id=31))
    msg = (IKEv2(init_SPI=bytes.fromhex("0102030405060708"), resp_SPI=b"\0" * 8,
                 exch_type=34, flags="Initiator", id=0)
           / IKEv2_SA(prop=IKEv2_Proposal(proposal=1, proto=1, trans_nb=3, trans=transforms))
           / IKEv2_KE(group=31, ke=bytes(range(32)))
           / IKEv2_Nonce(nonce=bytes(range(100, 132)))
           / IKEv2_Notify(proto=0, type=16388, notify=bytes(20))
           / IKEv2_TSi(number_of_TSs=1, traffic_selector=[IPv4TrafficSelector(
               IP_protocol_ID=6, start_port=0, end_port=65535,
               starting_address_v4="10.0.0.0", ending_address_v4="10.0.0.255")]))
    print(bytes(msg).hex())


def dissect(hexstr):
    m = IKEv2(bytes.fromhex(hexstr))
    print(f"init_SPI={m.init_SPI.hex()}")
    print(f"exch_type={m.exch_type}")
    print(f"id={m.id}")
    print(f"length={m.length}")
    sa = m[IKEv2_SA]
    for t in sa.prop.trans.iterpayloads() if hasattr(sa.prop.trans, "iterpayloads") else []:
        if isinstance(t, IKEv2_Transform):
            print(f"transform={t.transform_type},{t.transform_id},{t.key_length}")
    print(f"group={m[IKEv2_KE].group}")
    print(f"ke={bytes(m[IKEv2_KE].ke).hex()}")
    print(f"nonce={bytes(m[IKEv2_Nonce].nonce).hex()}")
    print(f"notify={m[IKEv2_Notify].type}")
    ts = m[IKEv2_TSi].traffic_selector[0]
    print(f"ts={ts.IP_protocol_ID},{ts.start_port},{ts.end_port},"
          f"{ts.starting_address_v4},{ts.ending_address_v4}")


if __name__ == "__main__":
    if sys.argv[1] == "build":
        build()
    else:
        dissect(sys.argv[2])
