//! `GET /api/v2/software-packages`: filters, paging, sorting.

use reqwest::StatusCode;
use serde_json::Value;

use crate::backend_tests;
use crate::common::rpms::RpmSpec;
use crate::common::{Backend, TestApp, Who, envelope, expect_error};

backend_tests!(filters, paging, sorting, bad_queries);

/// Seven packages of varied type, version, OS and architecture.
async fn seeded(backend: Backend) -> TestApp {
    let app = TestApp::start(backend).await;
    let specs = [
        RpmSpec::new("t-oceanbase-ocp-agent", "2.4.2", "1898294.alios7", "x86_64"),
        RpmSpec::new(
            "t-oceanbase-ocp-agent",
            "3.1.2",
            "20210812221645.alios7",
            "x86_64",
        ),
        RpmSpec::new("ocp-agent-ce", "3.1.2", "1.el7", "aarch64"),
        RpmSpec::new("oceanbase-ce", "4.2.1.0", "1.el7", "x86_64"),
        RpmSpec::new("obproxy-ce", "4.2.0", "1.el8", "aarch64"),
        RpmSpec::new("my_tool", "1.0", "1.el7", "noarch"),
    ];
    for spec in specs {
        app.upload_ok("p.rpm", spec.build()).await;
    }
    app.upload_ok("deploy-agent.sh", b"echo\n".to_vec()).await;
    app
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

fn names(data: &Value) -> Vec<String> {
    data["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["fileName"].as_str().unwrap().to_string())
        .collect()
}

async fn filters(backend: Backend) {
    let app = seeded(backend).await;
    let count = |d: &Value| d["page"]["totalElements"].as_u64().unwrap();

    // The seed's example query.
    let d = page(&app, "page=1&size=10&type=OCP_AGENT_INSTALL_PACKAGE").await;
    assert_eq!(count(&d), 3);
    assert!(
        d["contents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["type"] == "OCP_AGENT_INSTALL_PACKAGE")
    );

    assert_eq!(
        count(
            &page(
                &app,
                "type=OB_SERVER_INSTALL_PACKAGE&type=OBPROXY_INSTALL_PACKAGE"
            )
            .await
        ),
        2
    );
    assert_eq!(
        count(
            &page(
                &app,
                "type=OB_SERVER_INSTALL_PACKAGE,OBPROXY_INSTALL_PACKAGE,SCRIPT"
            )
            .await
        ),
        3
    );
    assert_eq!(count(&page(&app, "version=3.1.2").await), 2);
    assert_eq!(count(&page(&app, "version=3.1.2&version=4.2.0").await), 3);
    assert_eq!(count(&page(&app, "operatingSystem=alios7").await), 2);
    assert_eq!(count(&page(&app, "operatingSystem=alios7,el8").await), 3);
    // A family without version digits matches every version of it.
    assert_eq!(count(&page(&app, "operatingSystem=alios").await), 2);
    assert_eq!(count(&page(&app, "operatingSystem=el").await), 4);
    assert_eq!(count(&page(&app, "operatingSystem=el9").await), 0);
    assert_eq!(count(&page(&app, "architecture=aarch64").await), 2);
    assert_eq!(
        count(&page(&app, "architecture=aarch64&type=OBPROXY_INSTALL_PACKAGE").await),
        1
    );
    // Keyword: case-insensitive substring of the name; LIKE wildcards are literal.
    assert_eq!(count(&page(&app, "keyword=AGENT").await), 4);
    assert_eq!(count(&page(&app, "keyword=_").await), 1);
    assert_eq!(count(&page(&app, "keyword=%25").await), 0);
    assert_eq!(count(&page(&app, "keyword=nothing-matches").await), 0);
}

async fn paging(backend: Backend) {
    let app = seeded(backend).await;
    let d = page(&app, "page=1&size=3").await;
    assert_eq!(
        d["page"],
        serde_json::json!({"number": 1, "size": 3, "totalElements": 7, "totalPages": 3})
    );
    let mut seen = names(&d);
    seen.extend(names(&page(&app, "page=2&size=3").await));
    let last = page(&app, "page=3&size=3").await;
    assert_eq!(names(&last).len(), 1);
    seen.extend(names(&last));
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 7, "pages neither overlap nor skip: {seen:?}");

    // Past the end: empty contents, right totals.
    let d = page(&app, "page=9&size=3").await;
    assert_eq!(d["contents"], serde_json::json!([]));
    assert_eq!(d["page"]["totalElements"], 7);
    assert_eq!(d["page"]["number"], 9);
    // Even where the offset would not fit a database integer.
    let d = page(&app, "page=9223372036854775807&size=2000").await;
    assert_eq!(d["contents"], serde_json::json!([]));
    assert_eq!(d["page"]["totalElements"], 7);
    // Defaults and the maximum.
    assert_eq!(page(&app, "").await["page"]["size"], 10);
    assert_eq!(names(&page(&app, "size=2000").await).len(), 7);
}

async fn sorting(backend: Backend) {
    let app = seeded(backend).await;
    let asc = names(&page(&app, "sort=fileName,asc").await);
    let mut sorted = asc.clone();
    sorted.sort();
    assert_eq!(asc, sorted);
    let desc = names(&page(&app, "sort=fileName,desc").await);
    sorted.reverse();
    assert_eq!(desc, sorted);

    let sizes: Vec<u64> = page(&app, "sort=size,desc").await["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["size"].as_u64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");

    // Ties are broken by id, so equal keys keep a stable order across pages.
    let ids = |d: &Value| -> Vec<i64> {
        d["contents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect()
    };
    let by_arch = page(&app, "sort=architecture,asc").await;
    let archs: Vec<_> = by_arch["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["architecture"].as_str().unwrap().to_string())
        .collect();
    let mut sorted_archs = archs.clone();
    sorted_archs.sort();
    assert_eq!(archs, sorted_archs);
    let x86 = ids(&page(&app, "sort=architecture,asc&architecture=x86_64").await);
    assert!(x86.windows(2).all(|w| w[0] < w[1]), "{x86:?}");

    for field in [
        "id",
        "name",
        "version",
        "type",
        "operatingSystem",
        "createTime",
    ] {
        for dir in ["asc", "desc"] {
            assert_eq!(
                names(&page(&app, &format!("sort={field},{dir}")).await).len(),
                7
            );
        }
    }
    let newest_first = ids(&page(&app, "sort=createTime,desc").await);
    let mut expected = newest_first.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(newest_first, expected);
}

async fn bad_queries(backend: Backend) {
    let app = TestApp::start(backend).await;
    for query in [
        "size=2001",
        "size=0",
        "size=-5",
        "size=ten",
        "page=0",
        "page=-1",
        "sort=password,asc",
        "sort=name,sideways",
        "type=NOT_A_TYPE",
    ] {
        let response = app
            .get(Who::Viewer, &format!("/api/v2/software-packages?{query}"))
            .await;
        expect_error(response, StatusCode::BAD_REQUEST, 10001).await;
    }
    let response = app
        .get(Who::Viewer, "/api/v2/software-packages?type=RPM")
        .await;
    let message = expect_error(response, StatusCode::BAD_REQUEST, 10001).await;
    assert!(message.contains("OTHERS_RPM"), "{message}");

    // Text PostgreSQL cannot hold (a NUL, found by the API fuzzer) is the
    // request's fault, not a database outage; SQLite holds it.
    let response = app
        .get(Who::Viewer, "/api/v2/software-packages?fileName=a%00b")
        .await;
    match backend {
        Backend::SqliteLocal => assert_eq!(response.status(), StatusCode::OK),
        Backend::PostgresS3 => {
            let message = expect_error(response, StatusCode::BAD_REQUEST, 10001).await;
            assert!(message.contains("NUL"), "{message}");
        }
    }
}
