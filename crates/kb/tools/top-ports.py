#!/usr/bin/env python3
"""Write data/top-ports.toml: TCP and UDP ports ranked by internet exposure.

Usage:
    python3 crates/kb/tools/top-ports.py > crates/kb/data/top-ports.toml

How the ranking is made (see data/NOTICE.md for the sources):
  1. Hand-curated tiers, most exposed first. Tier A follows the order of the
     port facets published by internet-wide scanners (Shodan, Censys) and the
     ports named in Rapid7's National Exposure Index and Shadowserver's scan
     reports. Later tiers are judgement: ports of widely deployed software,
     device classes seen in those reports (CPE, cameras/DVRs, ICS), then
     alternative web and admin ports.
  2. The long tail: the remaining IANA well-known ports (1-1023) that have a
     registered service name, in port order, read from data/iana-ports.tsv.
  3. If still short, registered ports (1024-49151) with a name, in port order.
Nothing here is derived from nmap-services or /etc/services.
Python 3 standard library only. The script fails on a duplicate in the tiers.
"""

import pathlib
import sys

TCP_TARGET = 1000
UDP_TARGET = 250

TCP_TIERS = [
    # Tier A: the head of the published port facets (web, remote access,
    # mail, CPE management, databases, file sharing).
    [80, 443, 7547, 22, 8080, 21, 25, 3389, 8443, 53, 110, 143, 993, 995,
     587, 465, 3306, 5060, 8081, 2000, 8000, 8089, 1723, 5000, 111, 445,
     58000, 30005, 4567, 8888, 49152, 5900, 179, 554, 10000, 23, 139, 135,
     8008, 2082, 2083, 2086, 2087, 2095, 2096, 81, 8880, 5001, 9000, 3000,
     5432, 1433, 6379, 27017, 9200, 8001, 8090, 8082, 9090, 8083, 8084,
     8085, 8086, 8087, 8088, 8181, 9443, 7443, 4443, 10443, 8010, 8800,
     8899, 9100, 631, 5222, 1883, 8883, 5672, 502, 102, 20000, 44818,
     2404, 1911, 8291, 8728, 2375, 2376, 6443, 10250, 11211, 5985, 5986,
     3128, 1080, 52869, 37215, 37777, 34567, 60001, 5555, 2222, 990, 873,
     548, 515, 389, 636, 88, 1521, 9001, 9080, 9999, 10001, 5357],
    # Tier B: common server software and infrastructure seen exposed.
    [5269, 5671, 15672, 61616, 4911, 9600, 8729, 2379, 2380, 3268, 464,
     593, 3050, 5984, 6984, 9042, 7000, 7001, 7002, 8009, 8005, 8161,
     8500, 8545, 30303, 8333, 9735, 4369, 25565, 27015, 7777, 3478, 5349,
     1194, 10051, 10050, 5666, 5601, 9300, 50070, 50075, 8020, 8042, 9870,
     16010, 7180, 8983, 11434, 6000, 6001, 5901, 5902, 5800, 5938, 5631,
     3283, 4899, 6129, 2049, 6667, 6697, 1099, 4444, 9418, 3690, 8140,
     4505, 4506, 8200, 8300, 8301, 4646, 2181, 9092, 7077, 4040, 18080,
     9083, 5044, 514, 512, 513, 79, 113, 119, 563, 1025, 1026, 1027, 1028,
     1029, 49153, 49154, 49155, 49156, 49157, 5061, 5080, 8002, 8003, 8004,
     8006, 8007, 8011, 8012, 8069, 8091, 8096, 8112, 8123, 8222, 8448,
     8554, 8834, 9002, 9050, 9091, 9093, 9392, 9981, 9990, 10080, 10255,
     11112, 14147, 16992, 16993, 19999, 20880, 26257, 28015, 28017, 32400,
     32764, 33060, 47001, 50000, 55553, 61613, 62078, 64738],
    # Tier C: judgement. Ports of widely deployed software and device
    # classes that the scan reports keep finding exposed, grouped by kind.
    [
        # alternative telnet and web ports targeted by IoT botnets
        2323, 8023, 9527, 9530, 6036, 5358,
        # cameras, DVRs and streaming
        10554, 1935, 5005, 7070,
        # alternative web and admin ports of appliances and panels
        7080, 8060, 8099, 8100, 8180, 8282, 8444, 8445, 8765, 8787, 8881,
        8889, 8890, 8999, 9003, 9009, 9010, 9081, 9082, 9191, 9444, 9998,
        12000, 2001, 2002, 2020, 2080, 2121, 3001, 3002, 4000, 4001, 4002,
        4100, 4433, 4434, 5002, 5003, 5010, 5050, 5100, 5443, 6080, 7071,
        8013, 8014, 8015, 8016, 8018, 8021, 8022, 8030, 8040, 8050, 8070,
        8071, 8072, 8092, 8093, 8094, 8095, 8097, 8101, 8182, 8243, 8280,
        8281, 8400, 8585, 8600, 8686, 8761, 8866, 8891, 8989, 9005, 9020,
        9030, 9040, 9043, 9060, 9095, 9099, 9201, 9292, 9500, 9595, 9700,
        9800, 9876, 9898, 9943, 9991, 10002, 10003, 10022, 11000, 14000,
        15000, 16000, 17000, 18000, 18001, 19000, 20001, 22222, 30000,
        40000, 50001, 54321, 55555, 60000,
        # remote desktop and remote support
        3390, 3388, 3391, 5903, 5904, 5905, 5910, 5500, 5632, 6568, 2179,
        # databases, caches and message brokers
        2484, 6432, 7199, 7473, 7687, 8098, 8529, 8812, 9004, 9160, 11210,
        15671, 25672, 26379, 27018, 27019, 1527, 2424, 2480, 7210, 61614,
        # containers, orchestration and service meshes
        2377, 4243, 10249, 10256, 10257, 10259, 2381, 9153, 32000, 4194,
        6783, 15010, 15021,
        # monitoring and observability
        9094, 9113, 9115, 9182, 9187, 9104, 9121, 3100, 9411, 16686, 14268,
        4317, 4318, 2003, 2004, 5665, 4949, 8649,
        # development tools and notebooks
        8111, 8153, 4200, 5173, 6006, 8265, 8786, 7860, 8501, 9229, 5858,
        4723, 9222, 8188,
        # Windows services
        49158, 49159, 49160, 1801, 2103, 2105, 2107, 3269, 9389, 5722,
        8530, 8531, 7680, 2869, 5040,
        # mail, VoIP and messaging
        2525, 4190, 1720, 5038, 5062, 5070, 5223,
        # industrial control systems
        1962, 2455, 1200, 18245, 18246, 5094, 4840, 5007, 5006, 1089, 1090,
        1091, 34962, 34963, 34964,
        # printers, storage and file sync
        9220, 3260, 20048, 4045, 6789, 3300, 7480, 8384, 22000, 51413,
        6881,
        # game servers
        25575, 27016, 28016, 30120, 7778, 6112,
        # Apple and device sync
        7100, 3689, 5009,
        # proxies, anonymity networks and classic backdoor ports
        9150, 9051, 3129, 6588, 31337, 12345, 1337, 27374, 5554,
        # VPN and tunnels
        943, 9993, 1443,
        # misc registered services still seen on the internet
        4786, 4848, 5431, 5678, 6633, 6653, 6665, 6666, 6668, 6669, 6969,
        7474, 1830, 3351, 1583, 2100, 4242, 4664, 3780, 3790,
        10011, 11001, 12001, 16443, 18091, 20002, 25001,
        30001, 50050, 50100, 55442, 55554,
    ],
]

UDP_TIERS = [
    # Tier A: services that Shadowserver and the scanners report as exposed
    # (many are abused for reflection/amplification), in rough order.
    [53, 123, 161, 500, 1900, 5353, 4500, 137, 5060, 69, 11211, 389, 19,
     17, 111, 520, 1434, 3702, 10001, 5683, 47808, 623, 1194, 51820, 443,
     3478, 5351, 67, 68, 162, 1701, 177, 3283, 37810, 427, 32414, 41794,
     20000, 2152, 2123, 4789, 8472, 7, 13, 37, 88, 1812, 1813, 1645, 1646,
     514, 2049, 5355, 138, 1604, 44818, 2222, 9600],
    # Tier B: games, VoIP, media, tunnels, network management and telemetry.
    [9987, 27015, 26000, 27960, 19132, 3074, 5678, 6881, 5093, 17185,
     3389, 4070, 5004, 5005, 1719, 2427, 2727, 4569, 5061, 6969, 34962,
     34963, 34964, 502, 6343, 2055, 9995, 9996, 4739, 8125, 6081, 3130,
     1967, 1985, 3222, 521, 646, 3784, 3785, 853, 5684, 5246, 5247, 4672,
     4665, 1026, 1027, 1028, 8767, 64738, 25826, 5632, 5001, 5201, 7000,
     7001, 6112, 3659, 19302, 631, 9, 2302, 7787, 27005, 27020, 28015,
     30120, 34197, 2456, 7777, 27036, 16261, 3544, 5350],
]


def named_ports(tsv_path, transport, low, high):
    """Ports in [low, high] with a registered service name for this transport."""
    ports = []
    for line in tsv_path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        port, proto, name, _ = line.split("\t", 3)
        if proto == transport and name and low <= int(port) <= high:
            ports.append(int(port))
    return sorted(set(ports))


def rank(tiers, tsv_path, transport, target):
    ranked, seen = [], set()
    for tier in tiers:
        for port in tier:
            if port in seen:
                raise SystemExit(f"{transport}: port {port} is listed twice in the tiers")
            if not 1 <= port <= 65535:
                raise SystemExit(f"{transport}: port {port} is out of range")
            seen.add(port)
            ranked.append(port)
    for low, high in ((1, 1023), (1024, 49151)):
        for port in named_ports(tsv_path, transport, low, high):
            if len(ranked) >= target:
                return ranked
            if port not in seen:
                seen.add(port)
                ranked.append(port)
    return ranked


def toml_array(key, ports):
    lines = [f"{key} = ["]
    for start in range(0, len(ports), 12):
        lines.append("    " + ", ".join(str(p) for p in ports[start:start + 12]) + ",")
    lines.append("]")
    return "\n".join(lines)


def main():
    tsv = pathlib.Path(__file__).resolve().parent.parent / "data" / "iana-ports.tsv"
    tcp = rank(TCP_TIERS, tsv, "tcp", TCP_TARGET)
    udp = rank(UDP_TIERS, tsv, "udp", UDP_TARGET)
    print("# Ports ranked by how often they are found open/exposed on the internet,")
    print("# most exposed first. Generated by tools/top-ports.py; see NOTICE.md.")
    print(f"# tcp: {len(tcp)} ports, udp: {len(udp)} ports.")
    print()
    print(toml_array("tcp", tcp))
    print()
    print(toml_array("udp", udp))


if __name__ == "__main__":
    main()
