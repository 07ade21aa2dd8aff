"""Helpers of bench/run.sh's list figure.

    pgtools.py capture LOG OFFSET OUT_LIST OUT_ALL
        Reads PostgreSQL's log from byte OFFSET (statements logged with
        log_statement=all while depot answered one list request), and writes
        two pgbench scripts with the parameters inlined: OUT_LIST holds the
        statements that read `packages` (the list SQL proper), OUT_ALL every
        statement of the request (with authentication's).
    pgtools.py percentiles FILE...
        pgbench per-transaction logs (-l): prints "count p50_ms p99_ms".
"""

import re
import sys

LINE = re.compile(r"\[(\d+)\].*?\b(LOG|DETAIL):  (.*)$")
EXECUTE = re.compile(r"^(?:execute [^:]+|statement): (.*)$")
PARAM = re.compile(r"\$(\d+) = ('(?:[^']|'')*'|NULL)")


def capture(log, offset, out_list, out_all):
    with open(log, "rb") as f:
        f.seek(int(offset))
        text = f.read().decode("utf-8", "replace")
    statements = []  # [sql, params]
    last_by_pid = {}
    current = None
    for raw in text.splitlines():
        if raw.startswith("\t") and current is not None:
            current[0] += " " + raw.strip()  # continuation of a multi-line statement
            continue
        current = None
        m = LINE.search(raw)
        if not m:
            continue
        pid, kind, rest = m.groups()
        if kind == "LOG":
            e = EXECUTE.match(rest)
            if e:
                current = [e.group(1), {}]
                statements.append(current)
                last_by_pid[pid] = current
        elif kind == "DETAIL" and rest.startswith("parameters: ") and pid in last_by_pid:
            last_by_pid[pid][1] = {int(n): v for n, v in PARAM.findall(rest)}
    ours = []
    for sql, params in statements:
        if sql.strip().upper() in ("BEGIN", "COMMIT", "SELECT 1", ";"):
            continue
        inlined = re.sub(r"\$(\d+)", lambda m: params[int(m.group(1))], sql)
        ours.append(inlined.strip().rstrip(";") + ";")
    listing = [s for s in ours if '"packages"' in s]
    if len(listing) < 1:
        sys.exit("no statement on \"packages\" found in the PostgreSQL log")
    header = "-- captured by bench/run.sh from PostgreSQL's log (log_statement=all)\n"
    with open(out_list, "w") as f:
        f.write(header + "\n".join(listing) + "\n")
    with open(out_all, "w") as f:
        f.write(header + "\n".join(ours) + "\n")
    for s in ours:
        print("  " + s, file=sys.stderr)


def percentiles(files):
    latencies = []
    for name in files:
        with open(name) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 3:
                    latencies.append(int(fields[2]))
    latencies.sort()
    if not latencies:
        sys.exit("no transactions in the pgbench logs")
    pick = lambda p: latencies[min(len(latencies) - 1, int(round(p * (len(latencies) - 1))))]
    print(len(latencies), f"{pick(0.50) / 1000:.3f}", f"{pick(0.99) / 1000:.3f}")


if __name__ == "__main__":
    if sys.argv[1] == "capture":
        capture(*sys.argv[2:6])
    elif sys.argv[1] == "percentiles":
        percentiles(sys.argv[2:])
    else:
        sys.exit(__doc__)
