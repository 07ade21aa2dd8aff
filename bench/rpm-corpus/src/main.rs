//! `rpm-corpus DIR FROM TO`: writes packages FROM..TO (missing ones only) into
//! DIR, as `bench-NNNNNN-1.0.K-1.el9.x86_64.rpm`. Deterministic: the same
//! index always gives the same bytes, so a cached corpus and a fresh one agree.
//!
//! Each package looks like a small real one: a few files under its own
//! directory, a binary in /usr/bin, requires on two earlier packages (one
//! versioned), a provides, and three changelog entries.

use std::path::{Path, PathBuf};
use std::{env, fs, process};

use rpm::{BuildConfig, CompressionType, Dependency, FileOptions, PackageBuilder};

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let [dir, from, to] = args.as_slice() else {
        eprintln!("usage: rpm-corpus DIR FROM TO");
        process::exit(2);
    };
    let dir = PathBuf::from(dir);
    let (from, to): (u32, u32) = match (from.parse(), to.parse()) {
        (Ok(f), Ok(t)) if f <= t => (f, t),
        _ => {
            eprintln!("FROM and TO are package numbers, FROM <= TO");
            process::exit(2);
        }
    };
    fs::create_dir_all(&dir).expect("create the corpus directory");
    for i in from..to {
        let path = dir.join(file_name(i));
        if path.exists() {
            continue;
        }
        write(&path, &build(i));
    }
}

fn version(i: u32) -> String {
    format!("1.0.{}", i % 7)
}

fn file_name(i: u32) -> String {
    format!("bench-{i:06}-{}-1.el9.x86_64.rpm", version(i))
}

fn build(i: u32) -> Vec<u8> {
    let name = format!("bench-{i:06}");
    let mut b = PackageBuilder::new(&name, &version(i), "MIT", "x86_64", "a depot benchmark package");
    // A fixed date: the same bytes on every run.
    b.using_config(BuildConfig::v4().compression(CompressionType::Gzip).source_date(1_700_000_000))
        .release("1.el9")
        .description(format!("Package {i} of depot's repository benchmark.\nIt holds a few small files."))
        .url("https://example.com/depot/bench")
        .vendor("depot bench")
        .provides(Dependency::greater_eq(format!("bench-cap-{i}"), "1"));
    if i > 0 {
        b.requires(Dependency::any(format!("bench-{:06}", i / 2)));
        b.requires(Dependency::greater_eq(format!("bench-cap-{}", i - 1), "1"));
    }
    for (n, day) in [(1, 0u32), (2, 86_400), (3, 172_800)] {
        b.add_changelog_entry(
            format!("Bench <bench@example.com> - 1.0.{n}-1"),
            format!("- change {n} of package {i}"),
            1_700_000_000 + day,
        );
    }
    let add = |b: &mut PackageBuilder, path: String, body: String, mode: u16| {
        b.with_file_contents(body.into_bytes(), FileOptions::new(path).mode(mode))
            .expect("a valid file entry");
    };
    add(&mut b, format!("/usr/bin/{name}"), format!("#!/bin/sh\necho {name}\n"), 0o100755);
    for f in ["README", "config.yaml", "LICENSE", "NOTICE"] {
        add(&mut b, format!("/usr/share/{name}/{f}"), format!("{name} {f} {i}\n"), 0o100644);
    }
    let mut out = Vec::new();
    b.build().expect("a valid package").write(&mut out).expect("write to memory");
    out
}

fn write(path: &Path, bytes: &[u8]) {
    // Complete files only: an interrupted run leaves a .tmp, never a short RPM.
    let tmp = path.with_extension("rpm.tmp");
    fs::write(&tmp, bytes).expect("write a package");
    fs::rename(&tmp, path).expect("rename a package into place");
}
