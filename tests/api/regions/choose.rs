//! Choosing the region: by header, by query, by the client's address (a
//! client socket bound to 127.0.0.2, loopback too), `X-Forwarded-For` only
//! from a trusted proxy, the replica's `--region`; on every download route,
//! the yum repositories' `Packages/` included.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::StatusCode;

use super::{add_region, download_from, region_config, wait_present};
use crate::common::garage::Garage;
use crate::common::rpms::RpmSpec;
use crate::common::{Backend, PASSWORD, TestApp};

fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_address_the_header_the_query_and_the_replica_choose() {
    let (hz, sh) = (Garage::start().await, Garage::start().await);
    let dir = tempfile::tempdir().unwrap();
    let mut config = region_config(&hz, dir.path()).await;
    // A trusted proxy on 127.0.0.3; the replica declares no region.
    config.trusted_proxies = vec!["127.0.0.3/32".parse().unwrap()];
    config.repos.public = true;
    let app = TestApp::start_config(Backend::PostgresS3, config, dir).await;
    add_region(&app, "hz", &hz, &[], true).await;
    add_region(&app, "sh", &sh, &["127.0.0.2/32", "10.20.0.0/16"], false).await;
    let spec = RpmSpec::new("region-pkg", "1.0", "1.el7", "x86_64");
    let (rpm, file_name) = (spec.build(), spec.file_name());
    let name = file_name.as_str();
    app.upload_ok(name, rpm.clone()).await;
    wait_present(&app, "sh", 1, Duration::from_secs(60)).await;

    // By source address: 127.0.0.2 is sh's, 127.0.0.1 nobody's (home).
    let from_sh = client_from("127.0.0.2");
    let (status, served, body) = download_from(&from_sh, &app, name, None).await;
    assert_eq!((status, served.as_deref()), (StatusCode::OK, Some("sh")));
    assert!(body == rpm);
    let (_, served, _) = download_from(&app.http, &app, name, None).await;
    assert_eq!(served.as_deref(), Some("hz"));
    // The header outranks the address.
    let (_, served, _) = download_from(&from_sh, &app, name, Some("hz")).await;
    assert_eq!(served.as_deref(), Some("hz"));

    // X-Forwarded-For counts from the trusted proxy only.
    let forwarded = |client: &reqwest::Client| {
        client
            .get(app.url(&format!("/api/v2/files/sys-package/{name}")))
            .basic_auth("viewer", Some(PASSWORD))
            .header("X-Forwarded-For", "10.20.3.4")
            .send()
    };
    let via_proxy = forwarded(&client_from("127.0.0.3")).await.unwrap();
    assert_eq!(via_proxy.headers()["x-depot-region"], "sh");
    let spoofed = forwarded(&app.http).await.unwrap();
    assert_eq!(spoofed.headers()["x-depot-region"], "hz");

    // The yum repository's Packages/ href: by address, by query, redirected
    // (anonymous, public repository) to the chosen region's store.
    let path = format!("/repos/el7/x86_64/Packages/{name}");
    let response = from_sh.get(app.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["x-depot-region"], "sh");
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(&sh.endpoint), "{location}");
    let response = app
        .http
        .get(app.url(&format!("{path}?region=sh")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-depot-region"], "sh");
    let response = app.http.get(app.url(&path)).send().await.unwrap();
    assert_eq!(response.headers()["x-depot-region"], "hz");
    let location = response.headers()["location"].to_str().unwrap();
    let fetched = reqwest::get(location).await.unwrap().bytes().await.unwrap();
    assert!(fetched == rpm);
    let (_, dir) = app.stop().await;
    drop(dir);

    // A replica that declares its region serves from it by default.
    let dir = tempfile::tempdir().unwrap();
    let mut config = region_config(&hz, dir.path()).await;
    config.regions.own = Some("sh".into());
    let replica = TestApp::start_config(Backend::PostgresS3, config, dir).await;
    add_region(&replica, "hz", &hz, &[], true).await;
    add_region(&replica, "sh", &sh, &[], false).await;
    replica.upload_ok(name, rpm.clone()).await;
    wait_present(&replica, "sh", 1, Duration::from_secs(60)).await;
    let (_, served, body) = download_from(&replica.http, &replica, name, None).await;
    assert_eq!(served.as_deref(), Some("sh"));
    assert!(body == rpm);
}
