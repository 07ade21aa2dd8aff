//! Downloads as real clients make them: OCP's agent command (`curl` without
//! `-L`), `curl -L`, `curl --location-trusted`, wget and python-requests, each
//! with Basic and Bearer credentials, with and without the redirect opt-in.
//! Every one must get the file byte for byte, and on S3 a logging stand-in
//! in front of the store proves that no credential of depot's ever reached
//! it (depot's own S3 client signs with its S3 keys; the presigned URLs carry
//! their signature in the query).

use std::path::Path;

use depot::config::StorageConfig;
use reqwest::{StatusCode, header};
use serde_json::json;
use tokio::process::Command;

use crate::backend_tests;
use crate::common::recorder::StoreRecorder;
use crate::common::rpms::RpmSpec;
use crate::common::{Backend, PASSWORD, TestApp, Who};
use crate::tokens::create_token;

backend_tests!(
    every_client_gets_the_bytes_and_the_store_no_credentials,
    only_an_explicit_request_from_a_safe_client_is_redirected,
);

/// A client command; `{url}`, `{out}`, `{token}` are filled in.
struct Case {
    what: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    /// The URL asks for the redirect (`?redirect=1`).
    opt_in: bool,
}

const CASES: &[Case] = &[
    Case {
        what: "OCP's agent command (no -L)",
        program: "curl",
        args: &[
            "-s",
            "-k",
            "--user",
            "viewer:{password}",
            "-o",
            "{out}",
            "{url}",
        ],
        opt_in: false,
    },
    Case {
        what: "curl -L with Basic",
        program: "curl",
        args: &[
            "-s",
            "-f",
            "-L",
            "--user",
            "viewer:{password}",
            "-o",
            "{out}",
            "{url}",
        ],
        opt_in: true,
    },
    Case {
        what: "curl -L with a Bearer token",
        program: "curl",
        args: &[
            "-s",
            "-f",
            "-L",
            "-H",
            "Authorization: Bearer {token}",
            "-o",
            "{out}",
            "{url}",
        ],
        opt_in: true,
    },
    Case {
        what: "curl --location-trusted (forwards credentials on redirects)",
        program: "curl",
        args: &[
            "-s",
            "-f",
            "--location-trusted",
            "--user",
            "viewer:{password}",
            "-o",
            "{out}",
            "{url}",
        ],
        opt_in: false,
    },
    Case {
        what: "wget with Basic, asking for a redirect",
        program: "wget",
        args: &[
            "-q",
            "--user",
            "viewer",
            "--password",
            "{password}",
            "-O",
            "{out}",
            "{url}",
        ],
        opt_in: true,
    },
    Case {
        what: "wget with a Bearer token, asking for a redirect",
        program: "wget",
        args: &[
            "-q",
            "--header",
            "Authorization: Bearer {token}",
            "-O",
            "{out}",
            "{url}",
        ],
        opt_in: true,
    },
    Case {
        what: "python-requests with Basic",
        program: "python",
        args: &[
            "-c",
            REQUESTS,
            "{url}",
            "{out}",
            "basic",
            "viewer:{password}",
        ],
        opt_in: true,
    },
    Case {
        what: "python-requests with a Bearer token",
        program: "python",
        args: &["-c", REQUESTS, "{url}", "{out}", "bearer", "{token}"],
        opt_in: true,
    },
    Case {
        what: "depot pull (asks for the redirect itself)",
        program: "depot",
        args: &[
            "pull", "{name}", "-o", "{out}", "--server", "{base}", "--token", "{token}",
        ],
        opt_in: false,
    },
    Case {
        what: "python-requests, no opt-in",
        program: "python",
        args: &[
            "-c",
            REQUESTS,
            "{url}",
            "{out}",
            "basic",
            "viewer:{password}",
        ],
        opt_in: false,
    },
];

/// python-requests as scripts use it: follows redirects, streams to a file.
const REQUESTS: &str = r#"
import sys, requests
url, out, scheme, cred = sys.argv[1:5]
if scheme == "basic":
    user, password = cred.split(":", 1)
    r = requests.get(url, auth=(user, password), stream=True, timeout=60)
else:
    r = requests.get(url, headers={"Authorization": "Bearer " + cred}, stream=True, timeout=60)
r.raise_for_status()
with open(out, "wb") as f:
    for chunk in r.iter_content(1 << 16):
        f.write(chunk)
"#;

fn python() -> String {
    std::env::var("DEPOT_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("DEPOT_TEST_PYTHON is not set: run the tests with scripts/test.sh, which installs requests")
    })
}

/// A depot whose S3 endpoint (for its own client and its presigned URLs) is
/// a recorder in front of the test's store; on local files, no recorder.
async fn app_behind_recorder(backend: Backend) -> (TestApp, Option<StoreRecorder>) {
    let recorder = match backend {
        Backend::PostgresS3 => {
            let store = std::env::var("DEPOT_TEST_S3_ENDPOINT").unwrap();
            Some(StoreRecorder::start(&store).await)
        }
        Backend::SqliteLocal => None,
    };
    let endpoint = recorder.as_ref().map(StoreRecorder::endpoint);
    let app = TestApp::start_with(
        backend,
        Box::new(move |c| {
            if let (StorageConfig::S3(s3), Some(endpoint)) = (&mut c.storage, endpoint) {
                s3.endpoint = Some(endpoint);
            }
        }),
    )
    .await;
    (app, recorder)
}

/// An RPM of about a MiB that does not compress.
fn agent_rpm() -> (String, Vec<u8>) {
    let data: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let spec = RpmSpec::new("ocp-agent-ce", "4.3.2", "20241209.el7", "x86_64")
        .file("/home/admin/ocp_agent/bin/ocp_agentd", data)
        .compression(rpm::CompressionType::None);
    (spec.file_name(), spec.build())
}

async fn run(
    case: &Case,
    app: &TestApp,
    url: &str,
    out: &Path,
    token: &str,
) -> std::process::Output {
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let fill = |arg: &str| {
        arg.replace("{url}", url)
            .replace("{base}", &app.base)
            .replace("{name}", name)
            .replace("{out}", out.to_str().unwrap())
            .replace("{password}", PASSWORD)
            .replace("{token}", token)
    };
    let program = match case.program {
        "python" => python(),
        "depot" => env!("CARGO_BIN_EXE_depot").to_string(),
        other => other.to_string(),
    };
    Command::new(program)
        .args(case.args.iter().map(|a| fill(a)))
        .env_remove("DEPOT_USER")
        .env_remove("DEPOT_PASSWORD")
        .env_remove("DEPOT_TOKEN")
        .output()
        .await
        .unwrap_or_else(|e| panic!("{}: {} cannot run: {e}", case.what, case.program))
}

async fn every_client_gets_the_bytes_and_the_store_no_credentials(backend: Backend) {
    let (app, recorder) = app_behind_recorder(backend).await;
    let (name, bytes) = agent_rpm();
    let data = app.upload_ok("agent.rpm", bytes.clone()).await;
    let token = create_token(&app, json!({"name": "agents", "user": "viewer"})).await;
    let token = token["token"].as_str().unwrap().to_string();
    let download_url = data["downloadUrl"].as_str().unwrap().to_string();
    assert!(download_url.ends_with(&name), "{download_url}");
    let dir = tempfile::tempdir().unwrap();

    for (n, case) in CASES.iter().enumerate() {
        let url = match case.opt_in {
            true => format!("{download_url}?redirect=1"),
            false => download_url.clone(),
        };
        let out = dir.path().join(format!("{n}.rpm"));
        let output = run(case, &app, &url, &out, &token).await;
        assert!(
            output.status.success(),
            "{}: exit {:?}: {}",
            case.what,
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        let got = std::fs::read(&out).unwrap_or_default();
        assert!(
            got == bytes,
            "{}: {} bytes written, {} expected",
            case.what,
            got.len(),
            bytes.len()
        );
    }

    let Some(recorder) = recorder else { return };
    let presigned = recorder
        .request_lines()
        .into_iter()
        .filter(|l| l.contains("X-Amz-Signature="))
        .count();
    // curl -L twice, requests twice and depot pull took the fast path; nobody else did.
    assert_eq!(presigned, 5, "{:#?}", recorder.request_lines());
    assert_eq!(
        recorder.foreign_authorizations(),
        Vec::<String>::new(),
        "a client credential reached the store"
    );
    let basic = base64_of(&format!("viewer:{PASSWORD}"));
    for secret in [PASSWORD, basic.as_str(), token.as_str()] {
        assert!(!recorder.saw(secret), "{secret:?} reached the store");
    }
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn only_an_explicit_request_from_a_safe_client_is_redirected(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.upload_ok("x.sh", b"echo x\n".to_vec()).await;
    let path = "/api/v2/files/sys-package/x.sh";
    let status = |query: &'static str, agent: &'static str| {
        let request = app
            .request(Who::Viewer, reqwest::Method::GET, &format!("{path}{query}"))
            .header(header::USER_AGENT, agent);
        async move { request.send().await.unwrap().status() }
    };
    let redirect = match backend {
        Backend::PostgresS3 => StatusCode::FOUND,
        Backend::SqliteLocal => StatusCode::OK,
    };
    assert_eq!(status("", "curl/8.5.0").await, StatusCode::OK);
    assert_eq!(status("?redirect=0", "curl/8.5.0").await, StatusCode::OK);
    assert_eq!(status("?redirect=1", "curl/8.5.0").await, redirect);
    assert_eq!(
        status("?redirect", "libdnf (Rocky Linux 9.4)").await,
        redirect
    );
    assert_eq!(
        status("?redirect=true", "python-requests/2.32.3").await,
        redirect
    );
    // Clients that send credentials on to the store get the bytes, asking or not.
    assert_eq!(status("?redirect=1", "Wget/1.21.3").await, StatusCode::OK);
    assert_eq!(
        status("?redirect=1", "ansible-httpget").await,
        StatusCode::OK
    );
    assert_eq!(
        status("?redirect=maybe", "curl/8.5.0").await,
        StatusCode::BAD_REQUEST
    );
}
