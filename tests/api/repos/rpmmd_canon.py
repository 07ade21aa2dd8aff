"""Prints a repository's rpm-md as canonical JSON, for comparing depot's
metadata with createrepo_c's: per package (by pkgid), every field both write
the same way. Left out: the file time and location href (depot's point at its
download route; createrepo_c's at the file it was given).

usage: rpmmd_canon.py REPO_DIR   (a directory holding repodata/)
"""
import gzip
import json
import os
import sys
import xml.etree.ElementTree as ET

C = "{http://linux.duke.edu/metadata/common}"
R = "{http://linux.duke.edu/metadata/rpm}"
F = "{http://linux.duke.edu/metadata/filelists}"
O = "{http://linux.duke.edu/metadata/other}"
REPO = "{http://linux.duke.edu/metadata/repo}"


def load(root, kind):
    repomd = ET.parse(os.path.join(root, "repodata", "repomd.xml")).getroot()
    for data in repomd.findall(REPO + "data"):
        if data.get("type") == kind:
            href = data.find(REPO + "location").get("href")
            with gzip.open(os.path.join(root, href)) as f:
                return ET.parse(f).getroot()
    raise SystemExit(f"no {kind} in {root}")


def text(e):
    return (e.text or "") if e is not None else None


def main(root):
    out = {}
    for p in load(root, "primary").findall(C + "package"):
        pkgid = p.find(C + "checksum").text
        fmt = p.find(C + "format")
        deps = {}
        for kind in ["provides", "requires", "conflicts", "obsoletes", "suggests",
                     "enhances", "recommends", "supplements"]:
            e = fmt.find(R + kind)
            if e is not None:
                deps[kind] = sorted(json.dumps(x.attrib, sort_keys=True) for x in e)
        out[pkgid] = {
            "name": text(p.find(C + "name")),
            "arch": text(p.find(C + "arch")),
            "version": p.find(C + "version").attrib,
            "summary": text(p.find(C + "summary")),
            "description": text(p.find(C + "description")),
            "packager": text(p.find(C + "packager")),
            "url": text(p.find(C + "url")),
            "build": p.find(C + "time").get("build"),
            "size": p.find(C + "size").attrib,
            "license": text(fmt.find(R + "license")),
            "vendor": text(fmt.find(R + "vendor")),
            "group": text(fmt.find(R + "group")),
            "buildhost": text(fmt.find(R + "buildhost")),
            "sourcerpm": text(fmt.find(R + "sourcerpm")),
            "header-range": fmt.find(R + "header-range").attrib,
            "deps": deps,
            "primary-files": sorted((f.text, f.get("type", "file")) for f in fmt.findall(C + "file")),
        }
    for p in load(root, "filelists").findall(F + "package"):
        out[p.get("pkgid")]["files"] = sorted((f.text, f.get("type", "file")) for f in p.findall(F + "file"))
    for p in load(root, "other").findall(O + "package"):
        out[p.get("pkgid")]["changelogs"] = [
            [c.get("author"), c.get("date"), c.text] for c in p.findall(O + "changelog")
        ]
    print(json.dumps(out, indent=1, sort_keys=True))


main(sys.argv[1])
