//! obd's mirror code against a public depot repository: what it does, step
//! by step, in Python with requests as obd runs it (RemoteMirrorRepository:
//! the base URL probed first, `{baseurl}/` + `/repodata/repomd.xml` with its
//! doubled slash, primary.xml.gz read with gzip and ElementTree, a package
//! downloaded from `{baseurl}/{location}` and its Content-Length read).

use std::process::Command;

use super::{Rpm, wait_for};
use crate::backend_tests;
use crate::common::{Backend, TestApp};

backend_tests!(obds_mirror_code_reads_a_public_repository);

const OBD_MIRROR: &str = r#"
import gzip, hashlib, json, sys
from xml.etree import ElementTree
import requests

baseurl, name, out = sys.argv[1:4]
def local(tag):
    return tag.split('}')[1] if '}' in tag else tag

# obd: available = requests.get(baseurl).status_code < 400
assert requests.request('get', baseurl).status_code < 400, 'base URL unavailable'
# obd: '%s/%s' % (baseurl, '/repodata/repomd.xml'), saved, then iterparsed
r = requests.get('%s/%s' % (baseurl, '/repodata/repomd.xml'))
r.raise_for_status()
open(out + '.repomd', 'wb').write(r.content)
primary = None
for _, elem in ElementTree.iterparse(out + '.repomd'):
    if local(elem.tag) == 'data' and elem.attrib.get('type') == 'primary':
        primary = [c.attrib['href'] for c in elem if local(c.tag) == 'location'][0]
assert primary, 'no primary in repomd.xml'
r = requests.get('%s/%s' % (baseurl, primary))
r.raise_for_status()
open(out + '.primary.gz', 'wb').write(r.content)
found = None
for _, elem in ElementTree.iterparse(gzip.open(out + '.primary.gz')):
    if local(elem.tag) == 'package' and elem.attrib.get('type') == 'rpm':
        fields = {local(c.tag): c for c in elem}
        if fields['name'].text == name:
            found = (fields['location'].attrib['href'], fields['checksum'].text,
                     int(fields['size'].attrib['package']))
assert found, name + ' not in primary.xml'
href, checksum, size = found
# obd: download_file(url) streams it and reads Content-Length first
with requests.get('%s/%s' % (baseurl, href), stream=True) as f:
    length = int(f.headers['Content-Length'])
    body = b''.join(f.iter_content(512))
print(json.dumps({'length': length, 'size': size, 'got': len(body),
                  'sha256': hashlib.sha256(body).hexdigest(), 'checksum': checksum}))
"#;

async fn obds_mirror_code_reads_a_public_repository(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(|c| c.repos.public = true)).await;
    let rpm = Rpm::new(
        "oceanbase-ce",
        "4.2.1.0",
        "100000102023092807.el7",
        "x86_64",
    );
    let bytes = rpm.build();
    app.upload_ok(&rpm.file_name(), bytes.clone()).await;
    wait_for(&app, "el7", "x86_64", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let python = std::env::var("DEPOT_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("DEPOT_TEST_PYTHON is not set: run the tests with scripts/test.sh, which installs requests")
    });
    // As obd's .repo files write it: with a trailing slash.
    let baseurl = format!("{}/repos/el7/x86_64/", app.base);
    let out = Command::new(python)
        .args(["-c", OBD_MIRROR, &baseurl, "oceanbase-ce"])
        .arg(dir.path().join("mirror"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(got["length"], bytes.len(), "{got}");
    assert_eq!(got["got"], bytes.len(), "{got}");
    assert_eq!(got["size"], bytes.len(), "{got}");
    assert_eq!(got["sha256"], got["checksum"], "{got}");
    assert_eq!(got["sha256"], super::sha256_hex(&bytes), "{got}");
}
