"""One trial of the repository figure of bench/run.sh (bench/repos.sh):
uploads an RPM to depot and measures the time from the upload's 200 to a
repomd.xml with a higher <revision>, polling every 2 ms on a kept-alive
connection (http.client, lighter than requests: the poller shares the
two cores with depot); and depot's own account of the publication (the
depot_repo_publication_seconds{phase="publish"} histogram's sum and count,
before and after).

    python3 repo_lag.py URL TOKEN OS ARCH FILE
prints: lag_seconds publication_seconds publications
"""
import http.client
import re
import sys
import time
import urllib.parse

import requests

url, token, os_, arch, path = sys.argv[1:6]
s = requests.Session()
s.headers["Authorization"] = f"Bearer {token}"
repomd = f"{url}/repos/{os_}/{arch}/repodata/repomd.xml"
poller = http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=30)
repomd_path = urllib.parse.urlsplit(repomd).path


def revision():
    poller.request("GET", repomd_path, headers={"Authorization": f"Bearer {token}"})
    r = poller.getresponse()
    body = r.read().decode()
    if r.status != 200:
        sys.exit(f"repomd.xml answered {r.status}: {body[:300]}")
    return int(re.search(r"<revision>(\d+)</revision>", body).group(1))


def published():
    text = s.get(f"{url}/metrics", timeout=30).text
    def value(name):
        m = re.search(name + r'\{phase="publish"\} ([0-9.e+-]+)', text)
        return float(m.group(1)) if m else 0.0
    return value("depot_repo_publication_seconds_sum"), value("depot_repo_publication_seconds_count")


before = revision()
sum0, n0 = published()
with open(path, "rb") as f:
    r = s.post(f"{url}/api/v2/software-packages", files={"file": (path.rsplit("/", 1)[-1], f)}, timeout=60)
done = time.monotonic()
if r.status_code != 200:
    sys.exit(f"upload answered {r.status_code}: {r.text[:300]}")
while revision() <= before:
    if time.monotonic() - done > 300:
        sys.exit("no new publication within 300 s")
    time.sleep(0.002)
lag = time.monotonic() - done
# The histogram is observed just after the switch that clients see.
sum1, n1 = published()
while n1 == n0 and time.monotonic() - done < lag + 5:
    time.sleep(0.01)
    sum1, n1 = published()
print(f"{lag:.4f} {sum1 - sum0:.4f} {int(n1 - n0)}")
