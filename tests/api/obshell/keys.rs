//! One RSA key for every replica, created once even when replicas race for
//! it, and rotated without breaking clients.

use depot::app::{Migrations, open_database};
use depot::domain::obshell_auth::keys::{ObshellKeys, REFRESH_EVERY};
use reqwest::StatusCode;

use super::client::{KEYS, now, public_key, v2_header};
use crate::backend_tests;
use crate::common::{Backend, PASSWORD, TestApp, envelope};

backend_tests!(obshell_key_is_one_for_all_replicas_and_rotates);

async fn obshell_key_is_one_for_all_replicas_and_rotates(backend: Backend) {
    let app = TestApp::start(backend).await;
    // Three "replicas" ask for the key at once, on a database without one.
    let replica = || async {
        ObshellKeys::new(
            open_database(&app.config.database_url, Migrations::Skip)
                .await
                .unwrap(),
        )
    };
    let (a, b, c) = (replica().await, replica().await, replica().await);
    let (ra, rb, rc) = tokio::join!(a.ring(), b.ring(), c.ring());
    let (ra, rb, rc) = (ra.unwrap(), rb.unwrap(), rc.unwrap());
    assert_eq!(ra.generation, 1);
    assert_eq!(ra.public_key(), rb.public_key());
    assert_eq!(ra.public_key(), rc.public_key());
    let old = public_key(&app).await;
    assert_eq!(
        rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(&old)
            .unwrap()
            .as_bytes(),
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, ra.public_key())
            .unwrap()
    );

    // Rotated (as `depot obshell-key rotate` does): the server serves the
    // new key within REFRESH_EVERY and still accepts the old one meanwhile.
    assert_eq!(a.rotate().await.unwrap(), 2);
    tokio::time::sleep(REFRESH_EVERY + std::time::Duration::from_millis(500)).await;
    let new = public_key(&app).await;
    assert_ne!(new, old);
    let path = "/api/v1/upgrade/package/info";
    for key in [&new, &old] {
        let header = v2_header(key, PASSWORD, now() + 60, path, KEYS);
        let response = app
            .http
            .get(app.url(path))
            .header("X-OCS-Header", header)
            .send()
            .await
            .unwrap();
        let (status, body) = envelope(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
