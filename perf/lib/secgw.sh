# Sourced by the perf scripts that run DPDK's ipsec-secgw example as their anchor.
#
# build_secgw DIR: copies the example's source (Debian's dpdk-doc) into DIR/secgw, turns off
# its request for receive checksum offload (memif and net_pcap have none; secgw then trusts
# incoming IPv4 checksums) and builds it against the system DPDK; prints the binary's path.
# Exits with the reason when the source, make or the build is missing or fails.
build_secgw() {
    local dir=$1 src=/usr/share/dpdk/examples/ipsec-secgw
    [ -d "$src" ] || { echo "$src missing: apt-get install dpdk-doc (scripts/setup)" >&2; exit 1; }
    command -v make >/dev/null || { echo "make missing: apt-get install make" >&2; exit 1; }
    cp -r "$src" "$dir/secgw"
    sed -i 's/\t\t.offloads = RTE_ETH_RX_OFFLOAD_CHECKSUM,/\t\t.offloads = 0,/' "$dir/secgw/ipsec-secgw.c"
    grep -q $'\t\t.offloads = 0,' "$dir/secgw/ipsec-secgw.c" || { echo "secgw patch did not apply" >&2; exit 1; }
    make -s -C "$dir/secgw" >"$dir/secgw-build.log" 2>&1 || { tail -20 "$dir/secgw-build.log" >&2; exit 1; }
    echo "$dir/secgw/build/ipsec-secgw"
}
