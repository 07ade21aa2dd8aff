"""Helpers of bench/run.sh's list figure.

    pgtools.py capture LOG OFFSET OUT_ALL [OUT_MATCHING PATTERN]
        Reads PostgreSQL's log from byte OFFSET (statements logged with
        log_statement=all while depot answered one request), and writes a
        pgbench script with the parameters inlined: OUT_ALL every statement
        of the request (authentication's included), OUT_MATCHING only those
        containing PATTERN (e.g. '"packages"': the list SQL proper).
    pgtools.py percentiles FILE...
        pgbench per-transaction logs (-l): prints "count p50_ms p99_ms".
"""

import re
import sys

LINE = re.compile(r"\[(\d+)\].*?\b(LOG|DETAIL):  (.*)$")
EXECUTE = re.compile(r"^(?:execute [^:]+|statement): (.*)$")
PARAM = re.compile(r"\$(\d+) = ('(?:[^']|'')*'|NULL)")


def capture(log, offset, out_all, out_matching=None, pattern=None):
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
    if not ours:
        sys.exit("no statement found in the PostgreSQL log")
    header = "-- captured by bench/run.sh from PostgreSQL's log (log_statement=all)\n"
    with open(out_all, "w") as f:
        f.write(header + "\n".join(ours) + "\n")
    if out_matching:
        matching = [s for s in ours if pattern in s]
        if not matching:
            sys.exit(f"no statement with {pattern} found in the PostgreSQL log")
        with open(out_matching, "w") as f:
            f.write(header + "\n".join(matching) + "\n")
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
        capture(*sys.argv[2:7])
    elif sys.argv[1] == "percentiles":
        percentiles(sys.argv[2:])
    else:
        sys.exit(__doc__)
