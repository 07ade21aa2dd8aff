//! Fitness tests: the layering ARCHITECTURE.md draws, checked against the
//! code, so that a shortcut across layers fails here rather than in review.

use crate::common::source::{SourceFile, rust_files};

/// The domain's pure modules: parsers, the planner, classification, file
/// names, list queries. They take values and return values.
const PURE_DOMAIN: &[&str] = &[
    "src/domain/classify.rs",
    "src/domain/filename.rs",
    "src/domain/obshell_auth/body.rs",
    "src/domain/obshell_auth/header.rs",
    "src/domain/obshell_auth/replay.rs",
    "src/domain/patches/archive.rs",
    "src/domain/patches/comps.rs",
    "src/domain/patches/rules.rs",
    "src/domain/patches/metadata.rs",
    "src/domain/patches/signature.rs",
    "src/domain/query.rs",
    "src/domain/repos/chunks.rs",
    "src/domain/repos/repomd.rs",
    "src/domain/repos/rpmmd.rs",
    "src/domain/repos/signing.rs",
    "src/domain/repos/xml.rs",
    "src/domain/rpm_header.rs",
    "src/domain/rpm_integrity.rs",
    "src/domain/rpm_payload/",
    "src/domain/upgrade_route/",
];

/// The adapters (database, object store) and the frameworks around them.
const ADAPTERS: &[&str] = &["sea_orm", "object_store", "crate::db", "crate::store"];
const FRAMEWORKS: &[&str] = &[
    "axum",
    "utoipa",
    "clap",
    "reqwest",
    "tower_http",
    "crate::http",
];

/// Files over this many lines are split by responsibility.
const MAX_LINES: usize = 400;

/// Where `file` names any of `paths` in its code: as a path (`sea_orm::…`,
/// `use crate::db;`) or inside a grouped import (`use crate::{db, …}`).
fn uses(file: &SourceFile, paths: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (n, code) in file.non_test_code_lines() {
        for path in paths {
            let (parent, last) = path.rsplit_once("::").unwrap_or(("", path));
            let direct = code.match_indices(path).any(|(i, _)| {
                let before = code[..i].chars().next_back();
                let after = code[i + path.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            let grouped = !parent.is_empty()
                && code.contains(&format!("{parent}::{{"))
                && code
                    .split(['{', '}', ',', ' ', ';'])
                    .any(|item| item == last || item.starts_with(&format!("{last}::")));
            if direct || grouped {
                found.push(format!("{}:{n}: {}", file.path.display(), code.trim()));
            }
        }
    }
    found
}

fn assert_none(what: &str, violations: Vec<String>) {
    assert!(violations.is_empty(), "{what}:\n{}", violations.join("\n"));
}

/// Handlers extract, call the domain and map its answer: no SQL and no
/// object-store call in `src/http`.
#[test]
fn http_reaches_no_adapter() {
    let violations = rust_files("src/http")
        .iter()
        .flat_map(|f| uses(f, ADAPTERS))
        .collect();
    assert_none(
        "src/http must go through the domain, not the adapters",
        violations,
    );
}

/// The domain knows nothing of HTTP, the command line or the OpenAPI
/// description; its pure modules know no adapter either.
#[test]
fn the_domain_knows_no_framework_and_its_pure_modules_no_adapter() {
    let mut violations = Vec::new();
    for file in rust_files("src/domain") {
        violations.extend(uses(&file, FRAMEWORKS));
        let path = file.path.to_string_lossy();
        if PURE_DOMAIN.iter().any(|p| path.starts_with(p)) {
            violations.extend(uses(&file, ADAPTERS));
            violations.extend(uses(
                &file,
                &["entity", "tokio", "crate::app", "crate::config"],
            ));
        }
    }
    assert_none("the domain's layering is broken", violations);
}

/// Adapters serve the domain; they never call back up into it or HTTP
/// (the database may take the domain's pure value types, e.g. list queries).
#[test]
fn adapters_do_not_reach_up() {
    let mut violations = Vec::new();
    for file in rust_files("src/db").iter().chain(&rust_files("src/store")) {
        violations.extend(uses(file, &["crate::http", "crate::app", "axum"]));
        for (n, code) in file.non_test_code_lines() {
            let domain = code.contains("crate::domain::") || code.contains("super::super::domain");
            if domain && !code.contains("crate::domain::query::") {
                violations.push(format!("{}:{n}: {}", file.path.display(), code.trim()));
            }
        }
    }
    assert_none(
        "adapters must not depend on the layers above them",
        violations,
    );
}

/// Old migrations never change when entities do: the migration crate does
/// not depend on the entity crate.
#[test]
fn migrations_do_not_depend_on_entities() {
    let path = crate::common::source::root().join("migration/Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let mut tables = vec![&manifest];
    if let Some(targets) = manifest.get("target").and_then(|t| t.as_table()) {
        tables.extend(targets.values().filter_map(|t| t.as_table()));
    }
    for table in tables {
        for kind in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let deps = table.get(kind).and_then(|d| d.as_table());
            assert!(
                !deps.is_some_and(|d| d.contains_key("entity")),
                "migration/Cargo.toml must not depend on entity ({kind})"
            );
        }
    }
    let violations = rust_files("migration/src")
        .iter()
        .flat_map(|f| uses(f, &["entity"]))
        .collect();
    assert_none("migrations must not use the entity crate", violations);
}

/// Files stay small enough to read in one sitting; test modules excepted.
#[test]
fn source_files_fit_in_one_sitting() {
    let too_long: Vec<String> = ["src", "entity/src", "migration/src"]
        .iter()
        .flat_map(|dir| rust_files(dir))
        .filter(|f| !f.path.ends_with("tests.rs"))
        .filter_map(|f| {
            let lines = f.text.lines().count();
            (lines > MAX_LINES).then(|| format!("{}: {lines} lines", f.path.display()))
        })
        .collect();
    assert_none(
        &format!("split these files by responsibility (at most {MAX_LINES} lines)"),
        too_long,
    );
}

/// The rule checker itself: it sees direct paths and grouped imports, and
/// ignores comments and longer names.
#[test]
fn the_checker_sees_what_it_forbids() {
    let file = |text: &str| SourceFile {
        path: "x.rs".into(),
        text: text.into(),
    };
    assert_eq!(uses(&file("use sea_orm::DbErr;"), ADAPTERS).len(), 1);
    assert_eq!(
        uses(&file("use crate::{db, error::Error};"), ADAPTERS).len(),
        1
    );
    assert_eq!(
        uses(&file("let x = crate::store::Path::from(\"a\");"), ADAPTERS).len(),
        1
    );
    assert_eq!(uses(&file("use crate::{dbx, stores};"), ADAPTERS).len(), 0);
    assert_eq!(
        uses(&file("// sea_orm is not used here"), ADAPTERS).len(),
        0
    );
    assert_eq!(
        uses(&file("use crate::domain::entity_like;"), &["entity"]).len(),
        0
    );
    assert_eq!(uses(&file("use entity::package;"), &["entity"]).len(), 1);
    assert_eq!(uses(&file("use axum::Router;"), FRAMEWORKS).len(), 1);
}
