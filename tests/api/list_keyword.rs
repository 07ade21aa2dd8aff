//! `keyword` of `GET /api/v2/software-packages`: a substring of the
//! lowercased name, answered through `package_names` (and its trigram index
//! on PostgreSQL). The names' lowercasing is SQL's `lower()`, which folds
//! ASCII letters only on both backends (PostgreSQL's "C" collation, SQLite
//! without ICU); the keyword is lowercased whole.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement, TransactionTrait};
use serde_json::Value;

use crate::backend_tests;
use crate::common::rpms::RpmSpec;
use crate::common::{Backend, TestApp, Who, envelope};

backend_tests!(
    keyword_matches_substrings,
    keyword_with_filters_sort_and_paging,
    many_matches_page_the_same
);

/// Names uploaded as RPMs and scripts, then names no upload could carry
/// (non-ASCII, LIKE's metacharacters, one and two letters) written straight
/// into `packages`, as an older depot or a restore might have.
const UPLOADED: [&str; 5] = [
    "t-oceanbase-ocp-agent",
    "ocp-agent-ce",
    "oceanbase-ce",
    "obproxy-ce",
    "my_tool",
];
const WRITTEN: [&str; 8] = [
    "paquet-été",
    "ÉCLAIR",
    "50%_off",
    "back\\slash",
    "x",
    "Ab",
    "cr_Ab%Z",
    "OCEANBASE-UPPER",
];

async fn seeded(backend: Backend) -> TestApp {
    let app = TestApp::start(backend).await;
    for name in UPLOADED {
        let spec = RpmSpec::new(name, "1.0", "1.el7", "x86_64");
        app.upload_ok("p.rpm", spec.build()).await;
    }
    app.upload_ok("deploy-agent.sh", b"echo\n".to_vec()).await;
    let db = depot::db::connect(&app.config.database_url).await.unwrap();
    for (i, name) in WRITTEN.iter().enumerate() {
        // A copy of an uploaded row (its blob, type, times) under a new name.
        let sql = format!(
            "INSERT INTO packages (name, file_name, extension, size, sha1, blob_key, type, version, \
             release, build_number, operating_system, os_family, architecture, deletable, created_at) \
             SELECT '{}', 'written-{i}.rpm', extension, size, sha1, blob_key, type, version, release, \
             build_number, operating_system, os_family, architecture, deletable, created_at \
             FROM packages WHERE name = 'oceanbase-ce'",
            name.replace('\'', "''")
        );
        db.execute_unprepared(&sql).await.unwrap();
    }
    app
}

fn all_names() -> Vec<&'static str> {
    let mut names: Vec<_> = UPLOADED.into_iter().chain(WRITTEN).collect();
    names.push("deploy-agent.sh");
    names
}

/// Today's meaning of `keyword`, for comparison.
fn expected(keyword: &str) -> BTreeSet<String> {
    let keyword = keyword.to_lowercase();
    all_names()
        .into_iter()
        .filter(|n| n.to_ascii_lowercase().contains(&keyword))
        .map(str::to_string)
        .collect()
}

async fn page(app: &TestApp, query: &str) -> Value {
    let (status, body) = envelope(
        app.get(Who::Viewer, &format!("/api/v2/software-packages?{query}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body["data"].clone()
}

fn field(data: &Value, key: &str) -> Vec<String> {
    data["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[key].as_str().unwrap().to_string())
        .collect()
}

async fn found(app: &TestApp, keyword: &str) -> BTreeSet<String> {
    let encoded: String = url::form_urlencoded::byte_serialize(keyword.as_bytes()).collect();
    let d = page(app, &format!("keyword={encoded}&size=2000")).await;
    let names = field(&d, "name");
    assert_eq!(
        d["page"]["totalElements"].as_u64().unwrap(),
        names.len() as u64,
        "{keyword:?}"
    );
    names.into_iter().collect()
}

async fn keyword_matches_substrings(backend: Backend) {
    let app = seeded(backend).await;
    for keyword in [
        // In the middle, and in any case.
        "agent",
        "CEAN",
        "bAsE-c",
        "ocp-agent-ce", // LIKE's metacharacters are literal.
        "%",
        "_",
        "\\",
        "%_",
        "0%_o",
        "b%Z",
        "_a",
        "k\\s", // One and two characters.
        "x",
        "X",
        "o",
        "ab",
        "AB",
        "-c",
        "%Z", // Non-ASCII: the keyword lowercased whole,
        // the names' ASCII letters only.
        "été",
        "ÉTÉ",
        "quet-É",
        "é",
        "éclair",
        "ÉCLAIR",
        "Écl", // Nothing.
        "zzz",
        "agent-x",
        "",
    ] {
        let want = if keyword.is_empty() {
            all_names().into_iter().map(str::to_string).collect()
        } else {
            expected(keyword)
        };
        assert_eq!(found(&app, keyword).await, want, "keyword {keyword:?}");
    }
    assert!(!expected("été").is_empty() && !expected("x").is_empty());

    // A deleted package is no longer found, though its name stays known.
    let d = page(&app, "keyword=proxy").await;
    let id = d["contents"][0]["id"].as_i64().unwrap();
    let response = app
        .request(
            Who::Manager,
            Method::DELETE,
            &format!("/api/v2/software-packages/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert!(found(&app, "proxy").await.is_empty());
    // And a name uploaded again is found again.
    let spec = RpmSpec::new("obproxy-ce", "1.1", "1.el7", "x86_64");
    app.upload_ok("p.rpm", spec.build()).await;
    assert_eq!(found(&app, "PROXY").await, expected("proxy"));
}

async fn keyword_with_filters_sort_and_paging(backend: Backend) {
    let app = seeded(backend).await;
    let d = page(
        &app,
        "keyword=agent&type=OCP_AGENT_INSTALL_PACKAGE&sort=fileName,desc&size=1",
    )
    .await;
    assert_eq!(d["page"]["totalElements"], 2);
    assert_eq!(d["page"]["totalPages"], 2);
    let first = field(&d, "fileName");
    let second = field(
        &page(
            &app,
            "keyword=agent&type=OCP_AGENT_INSTALL_PACKAGE&sort=fileName,desc&size=1&page=2",
        )
        .await,
        "fileName",
    );
    assert_eq!(
        [first[0].as_str(), second[0].as_str()],
        [
            "t-oceanbase-ocp-agent-1.0-1.el7.x86_64.rpm",
            "ocp-agent-ce-1.0-1.el7.x86_64.rpm"
        ]
    );
    // With the OS and architecture filters, and past the end.
    let d = page(
        &app,
        "keyword=ce&operatingSystem=el&architecture=x86_64&sort=name,asc&size=10",
    )
    .await;
    let names = field(&d, "name");
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    let want: BTreeSet<String> = expected("ce")
        .into_iter()
        .filter(|n| UPLOADED.contains(&n.as_str()) || WRITTEN.contains(&n.as_str()))
        .collect();
    assert_eq!(names.iter().cloned().collect::<BTreeSet<_>>(), want);
    // Ties go by id in the sort's direction (one index read backwards).
    let ids = |d: &Value| -> Vec<i64> {
        d["contents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect()
    };
    let all_x86 = page(
        &app,
        "keyword=ce&architecture=x86_64&sort=architecture,desc",
    )
    .await;
    let desc = ids(&all_x86);
    assert!(
        desc.len() > 2 && desc.windows(2).all(|w| w[0] > w[1]),
        "{desc:?}"
    );
    let all_x86 = page(&app, "keyword=ce&architecture=x86_64&sort=architecture,asc").await;
    let asc = ids(&all_x86);
    assert!(asc.windows(2).all(|w| w[0] < w[1]), "{asc:?}");
    let d = page(&app, "keyword=ce&operatingSystem=el9").await;
    assert_eq!(d["page"]["totalElements"], 0);
    let d = page(&app, "keyword=agent&page=5&size=2").await;
    assert_eq!(d["contents"], serde_json::json!([]));
    assert_eq!(d["page"]["totalElements"], 3);
}

/// Past 2,000 matches a keyword's page is found by walking the sort's index
/// instead of fetching the matches by name: the same pages either way.
async fn many_matches_page_the_same(backend: Backend) {
    let app = seeded(backend).await;
    let db = depot::db::connect(&app.config.database_url).await.unwrap();
    db.execute_unprepared(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 2100) \
         INSERT INTO packages (name, file_name, extension, size, sha1, blob_key, type, version, \
         release, build_number, operating_system, os_family, architecture, deletable, created_at) \
         SELECT CASE WHEN s.i % 2 = 0 THEN 'bulk-even' ELSE 'bulk-odd' END, 'bulk-' || s.i || '.rpm', \
         extension, size + s.i % 7, sha1, blob_key, type, version, release, build_number, \
         operating_system, os_family, architecture, deletable, created_at \
         FROM s, packages WHERE packages.name = 'oceanbase-ce'",
    )
    .await
    .unwrap();
    let ids = |d: &Value| -> Vec<i64> {
        d["contents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect()
    };
    // Many (2,100, walked) and few (1,050 of one name, fetched), in pages
    // of 500 against the whole list in one page of 2,000 where it fits.
    for (keyword, total) in [("BULK", 2100), ("bulk-odd", 1050)] {
        for sort in [
            "",
            "&sort=size,desc",
            "&sort=createTime,asc",
            "&sort=name,desc",
        ] {
            let mut paged = Vec::new();
            for n in 1..=5 {
                let d = page(&app, &format!("keyword={keyword}{sort}&size=500&page={n}")).await;
                assert_eq!(d["page"]["totalElements"], total);
                paged.extend(ids(&d));
            }
            assert_eq!(paged.len(), total, "{keyword}{sort}");
            let unique: BTreeSet<_> = paged.iter().collect();
            assert_eq!(unique.len(), total, "{keyword}{sort}: pages overlap");
            let all = page(&app, &format!("keyword={keyword}{sort}&size=2000")).await;
            assert_eq!(ids(&all), paged[..total.min(2000)], "{keyword}{sort}");
        }
    }
    let sizes: Vec<i64> = page(&app, "keyword=bulk&sort=size,desc&size=2000").await["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["size"].as_i64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
}

/// PostgreSQL answers a keyword through the trigram index on the names and
/// the index on `packages.name`, not a scan of `packages`. Sequential scans
/// are priced out for the plan (a test table is too small for the planner
/// to prefer an index on its own): the test fails when no index can serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_plans_keywords_through_indexes() {
    let app = seeded(Backend::PostgresS3).await;
    let db = depot::db::connect(&app.config.database_url).await.unwrap();
    for keyword in ["agent", "CEAN", "50%_o"] {
        let q = depot::domain::query::ListQuery::parse(&format!(
            "keyword={}",
            url::form_urlencoded::byte_serialize(keyword.as_bytes()).collect::<String>()
        ))
        .unwrap();
        let select = depot::db::packages::filtered(&q).build(DbBackend::Postgres);
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared("SET LOCAL enable_seqscan = off")
            .await
            .unwrap();
        let rows = txn
            .query_all_raw(Statement {
                sql: format!("EXPLAIN {}", select.sql),
                ..select
            })
            .await
            .unwrap();
        txn.rollback().await.unwrap();
        let plan: Vec<String> = rows
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).unwrap())
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("ix_package_names_trgm"), "{keyword}:\n{plan}");
        assert!(!plan.contains("Seq Scan"), "{keyword}:\n{plan}");
    }
}
