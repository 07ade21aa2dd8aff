//! The routes, each under `/v1/…` and `/patch/…` (one described handler per
//! path, both generated from one definition by `twice!`).

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{PatchResult, QueryParamsIn, ReleaseParams, ids};
use crate::app::AppState;
use crate::domain::patches::{APPLIED, AVAILABLE, COMMITTED};
use crate::http::auth::{PackageManager, PackageViewer, Require, UserAdmin};
use crate::http::extract::{PathParam, QueryParams};
use crate::http::openapi::Errors;
use crate::http::packages::UploadForm;

/// One handler per path, the same body: `/v1/…` and `/patch/…`.
macro_rules! twice {
    (
        $(#[doc = $doc:literal])*
        $method:ident [$v1:ident = $p1:literal, $alias:ident = $p2:literal]
        ($($attr:tt)*)
        ($($args:tt)*) $body:block
    ) => {
        $(#[doc = $doc])*
        #[utoipa::path($method, path = $p1, tag = "patches", $($attr)*
            security(("basic" = []), ("bearer" = [])))]
        async fn $v1($($args)*) -> Response $body

        $(#[doc = $doc])*
        #[utoipa::path($method, path = $p2, tag = "patches", $($attr)*
            security(("basic" = []), ("bearer" = [])))]
        async fn $alias($($args)*) -> Response $body
    };
}

pub(super) use twice;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(query_v1))
        .routes(routes!(query_patch))
        .routes(routes!(show_v1))
        .routes(routes!(show_patch))
        .routes(routes!(what_requires_v1))
        .routes(routes!(what_requires_patch))
        .routes(routes!(dependencies_v1))
        .routes(routes!(dependencies_patch))
        .routes(routes!(is_applied_v1))
        .routes(routes!(is_applied_patch))
        .routes(routes!(is_available_v1))
        .routes(routes!(is_available_patch))
        .routes(routes!(upload_v1))
        .routes(routes!(upload_patch))
        .routes(routes!(apply_v1))
        .routes(routes!(apply_patch))
        .routes(routes!(remove_v1))
        .routes(routes!(remove_patch))
        .routes(routes!(delete_v1))
        .routes(routes!(delete_patch))
        .routes(routes!(commit_v1))
        .routes(routes!(commit_patch))
        .routes(routes!(commit_dry_run_v1))
        .routes(routes!(commit_dry_run_patch))
        .routes(routes!(init_release_v1))
        .routes(routes!(init_release_patch))
        .routes(routes!(del_release_v1))
        .routes(routes!(del_release_patch))
        .routes(routes!(releases_v1))
        .routes(routes!(releases_patch))
}

twice! {
    /// The patches and their states (`{"pd": {ID: {…}}}`).
    get [query_v1 = "/v1/query", query_patch = "/patch/query"]
    (params(QueryParamsIn), responses((status = 200, description = "`pd`: each patch's metadata and states", body = Object), Errors),)
    (_: Require<PackageViewer>, State(state): State<AppState>, QueryParams(q): QueryParams<QueryParamsIn>) {
        super::query(&state, q).await
    }
}

twice! {
    /// Patches' metadata and contents (`{metadata, contents, error}`).
    post [show_v1 = "/v1/show/{*ids}", show_patch = "/patch/show/{*ids}"]
    (params(("ids" = String, Path, description = "Patch ids, slash-joined")), responses((status = 200, description = "metadata and contents by id; `error` names the unknown ones", body = Object), Errors),)
    (_: Require<PackageViewer>, State(state): State<AppState>, PathParam(path): PathParam<String>) {
        match ids(&path) {
            Ok(ids) => super::show(&state, ids).await,
            Err(e) => e.into_response(),
        }
    }
}

twice! {
    /// Which patches require each of these.
    get [what_requires_v1 = "/v1/what_requires/{*ids}", what_requires_patch = "/patch/what_requires/{*ids}"]
    (params(("ids" = String, Path, description = "Patch ids, slash-joined")), responses((status = 200, description = "One line per patch in `info`", body = PatchResult), Errors),)
    (_: Require<PackageViewer>, State(state): State<AppState>, PathParam(path): PathParam<String>) {
        match ids(&path) {
            Ok(ids) => super::reply(state.patches.what_requires(&ids).await),
            Err(e) => e.into_response(),
        }
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Recursive {
    /// `yes`: requirements of requirements too.
    recursive: Option<String>,
}

twice! {
    /// What these patches require (`{patches, error}`).
    get [dependencies_v1 = "/v1/query_dependencies/{*ids}", dependencies_patch = "/patch/query_dependencies/{*ids}"]
    (params(("ids" = String, Path, description = "Patch ids, slash-joined"), Recursive), responses((status = 200, description = "`patches`: the patches and what they require", body = Object), Errors),)
    (_: Require<PackageViewer>, State(state): State<AppState>, PathParam(path): PathParam<String>, QueryParams(r): QueryParams<Recursive>) {
        match ids(&path) {
            Ok(ids) => super::dependencies(&state, ids, r.recursive.as_deref() == Some("yes")).await,
            Err(e) => e.into_response(),
        }
    }
}

twice! {
    /// Whether every one of these patches is applied (or committed): `true`/`false`.
    post [is_applied_v1 = "/v1/is_applied/{*ids}", is_applied_patch = "/patch/is_applied/{*ids}"]
    (params(("ids" = String, Path, description = "Patch ids, slash-joined")), responses((status = 200, description = "true or false", body = bool, content_type = "application/json"), Errors),)
    (_: Require<PackageViewer>, State(state): State<AppState>, PathParam(path): PathParam<String>) {
        match ids(&path) {
            Ok(ids) => super::is_in(&state, ids, &[APPLIED, COMMITTED]).await,
            Err(e) => e.into_response(),
        }
    }
}

twice! {
    /// Whether every one of these patches is available: `true`/`false`.
    post [is_available_v1 = "/v1/is_available/{*ids}", is_available_patch = "/patch/is_available/{*ids}"]
    (params(("ids" = String, Path, description = "Patch ids, slash-joined")), responses((status = 200, description = "true or false", body = bool, content_type = "application/json"), Errors),)
    (_: Require<PackageViewer>, State(state): State<AppState>, PathParam(path): PathParam<String>) {
        match ids(&path) {
            Ok(ids) => super::is_in(&state, ids, &[AVAILABLE]).await,
            Err(e) => e.into_response(),
        }
    }
}

twice! {
    /// Upload a patch file (multipart field `file`, named `<ID>.patch`):
    /// verified, its RPMs stored and checked, then Available.
    post [upload_v1 = "/v1/upload", upload_patch = "/patch/upload"]
    (request_body(content = UploadForm, content_type = "multipart/form-data"), responses((status = 200, description = "`<ID> is now available`, or `error` with StarlingX's reason", body = PatchResult), Errors),)
    (Require(user, _): Require<PackageManager>, State(state): State<AppState>, request: Request) {
        super::upload(&state, &user.name, request).await
    }
}

twice! {
    /// Apply patches: their RPMs join the release's updates repository.
    post [apply_v1 = "/v1/apply/{*ids}", apply_patch = "/patch/apply/{*ids}"]
    (params(("ids" = String, Path, description = "Patch ids, slash-joined")), responses((status = 200, description = "info, warning, error", body = PatchResult), Errors),)
    (_: Require<PackageManager>, State(state): State<AppState>, PathParam(path): PathParam<String>) {
        match ids(&path) {
            Ok(ids) => super::reply(state.patches.apply(&ids).await),
            Err(e) => e.into_response(),
        }
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RemoveParams {
    /// `yes`: remove unremovable patches too (with a warning), as
    /// `sw-patch remove --removeunremovable`.
    removeunremovable: Option<String>,
}

twice! {
    /// Remove applied patches from the release's updates repository.
    post [remove_v1 = "/v1/remove/{*ids}", remove_patch = "/patch/remove/{*ids}"]
    (params(("ids" = String, Path, description = "Patch ids, slash-joined"), RemoveParams), responses((status = 200, description = "info, warning, error", body = PatchResult), Errors),)
    (_: Require<PackageManager>, State(state): State<AppState>, PathParam(path): PathParam<String>, QueryParams(p): QueryParams<RemoveParams>) {
        let unremovable = p.removeunremovable.as_deref() == Some("yes");
        match ids(&path) {
            Ok(ids) => super::reply(state.patches.remove(&ids, unremovable).await),
            Err(e) => e.into_response(),
        }
    }
}

twice! {
    /// Delete Available patches and their RPMs.
    post [delete_v1 = "/v1/delete/{*ids}", delete_patch = "/patch/delete/{*ids}"]
    (params(("ids" = String, Path, description = "Patch ids, slash-joined")), responses((status = 200, description = "info, warning, error", body = PatchResult), Errors),)
    (_: Require<PackageManager>, State(state): State<AppState>, PathParam(path): PathParam<String>) {
        match ids(&path) {
            Ok(ids) => super::reply(state.patches.delete(&ids).await),
            Err(e) => e.into_response(),
        }
    }
}

twice! {
    /// Commit released, applied patches (and what they require); their
    /// superseded RPMs are deleted. `sz`: bytes freed.
    post [commit_v1 = "/v1/commit/{*ids}", commit_patch = "/patch/commit/{*ids}"]
    (params(("ids" = String, Path, description = "Patch ids, slash-joined")), responses((status = 200, description = "info, warning, error, `patches` and `sz`", body = Object), Errors),)
    (_: Require<PackageManager>, State(state): State<AppState>, PathParam(path): PathParam<String>) {
        match ids(&path) {
            Ok(ids) => super::commit(&state, ids, false).await,
            Err(e) => e.into_response(),
        }
    }
}

twice! {
    /// What a commit would do: the patches, and `sz`, the bytes it would free.
    post [commit_dry_run_v1 = "/v1/commit_dry_run/{*ids}", commit_dry_run_patch = "/patch/commit_dry_run/{*ids}"]
    (params(("ids" = String, Path, description = "Patch ids, slash-joined")), responses((status = 200, description = "info, warning, error, `patches` and `sz`", body = Object), Errors),)
    (_: Require<PackageViewer>, State(state): State<AppState>, PathParam(path): PathParam<String>) {
        match ids(&path) {
            Ok(ids) => super::commit(&state, ids, true).await,
            Err(e) => e.into_response(),
        }
    }
}

twice! {
    /// Add a release (`?base=el7`: its base repository, which patch RPMs must be newer than).
    post [init_release_v1 = "/v1/init_release/{release}", init_release_patch = "/patch/init_release/{release}"]
    (params(("release" = String, Path, description = "The release, as patches' sw_version name it"), ReleaseParams), responses((status = 200, description = "info, warning, error", body = PatchResult), Errors),)
    (_: Require<UserAdmin>, State(state): State<AppState>, PathParam(release): PathParam<String>, QueryParams(p): QueryParams<ReleaseParams>) {
        super::init_release(&state, release, p).await
    }
}

twice! {
    /// Delete a release that has no patches.
    post [del_release_v1 = "/v1/del_release/{release}", del_release_patch = "/patch/del_release/{release}"]
    (params(("release" = String, Path, description = "The release")), responses((status = 200, description = "info, warning, error", body = PatchResult), Errors),)
    (_: Require<UserAdmin>, State(state): State<AppState>, PathParam(release): PathParam<String>) {
        super::del_release(&state, release).await
    }
}

twice! {
    /// The releases and their base repositories (depot's own call).
    get [releases_v1 = "/v1/releases", releases_patch = "/patch/releases"]
    (responses((status = 200, description = "`releases`: name and base of each", body = Object), Errors),)
    (_: Require<PackageViewer>, State(state): State<AppState>) {
        super::releases(&state).await
    }
}
