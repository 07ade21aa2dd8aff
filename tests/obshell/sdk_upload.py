"""Uploads an upgrade package to depot with obshell's own Python SDK (PyPI
`obshell`), as an operator would to an obshell agent.

    sdk_upload.py HOST PORT PASSWORD FILE [v1|v2]

Without a version, the SDK chooses one from /api/v1/info. Prints the auth
headers the SDK sent with the upload (`X-OCS-Header` is v2, `X-OCS-Auth` v1),
read off the wire.
"""

import sys

import obshell.client
from obshell import ClientSet
from obshell.auth.password import PasswordAuth

host, port, password, path = sys.argv[1:5]
version = sys.argv[5] if len(sys.argv) > 5 else None

sent = []
request = obshell.client.requests.request


def spy(method, url, **kwargs):
    response = request(method, url, **kwargs)
    if url.endswith("/api/v1/upgrade/package"):
        headers = kwargs.get("headers") or {}
        sent.extend(h for h in headers if h.lower().startswith("x-ocs"))
        sent.append(str(response.status_code))
    return response


obshell.client.requests.request = spy

auth = PasswordAuth(password, version=version) if version else PasswordAuth(password)
client = ClientSet(host, int(port), auth=auth)
# Returns nothing even on success (an SDK quirk); raises on an error answer.
client.v1.upload_pkg(path)
print(" ".join(sent))
