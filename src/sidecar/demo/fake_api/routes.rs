//! The fake API's endpoints, as the real API answers them.

use axum::extract::{FromRequest, OptionalFromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::state::{Shared, err, lower};
use crate::sidecar::api::TERMS_AND_CONDITIONS_HASH;
use crate::sidecar::defn::{self, Eip712Message};
use crate::sidecar::select::{config_hash, newest_first, text};

/// Every endpoint, behind the fault-injection layer.
pub(super) fn router(shared: Shared) -> Router {
    let lock_routes = |r: Router<Shared>, prefix: &str| {
        r.route(&format!("{prefix}/lock"), post(publish_lock))
            .route(&format!("{prefix}/lock/{{hash}}"), get(lock_by_hash))
            .route(
                &format!("{prefix}/lock/configHash/{{hash}}"),
                get(lock_by_config_hash),
            )
    };
    let r = Router::new()
        .route(
            "/v1/_health",
            get(|| async { Json(json!({"status": "ok"})) }),
        )
        .route("/v1/definition", post(create_definition))
        .route("/v1/definition/operator/{address}", get(list_for_operator))
        .route(
            "/v1/definition/{hash}",
            get(get_definition).put(accept_definition),
        )
        .route("/v1/termsAndConditions", post(accept_terms))
        .route("/v1/termsAndConditions/{address}", get(terms_status));
    let r = lock_routes(lock_routes(r, "/v1"), "");
    r.layer(axum::middleware::from_fn_with_state(shared.clone(), knobs))
        .with_state(shared)
}

async fn knobs(State(sh): State<Shared>, req: Request, next: Next) -> Response {
    let line = format!(
        "{} {}",
        req.method(),
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let (stall, fail, malformed) = {
        let mut s = sh.lock();
        s.requests.push(line);
        let k = &mut s.knobs;
        let stall = (k.stall_next > 0).then(|| {
            k.stall_next -= 1;
            k.stall_for
        });
        let fail = (k.fail_next > 0).then(|| {
            k.fail_next -= 1;
            k.fail_status
        });
        let malformed = k.malformed_next > 0;
        if malformed {
            k.malformed_next -= 1;
        }
        (stall, fail, malformed)
    };
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    if let Some(status) = fail {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return err(status, "An unknown error occurred");
    }
    if malformed {
        return (StatusCode::OK, "<html>not json").into_response();
    }
    next.run(req).await
}

#[derive(serde::Deserialize)]
struct PageQuery {
    page: Option<String>,
    limit: Option<String>,
}

async fn list_for_operator(
    State(sh): State<Shared>,
    Path(address): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let (Some(page), Some(limit)) = (
        q.page.and_then(|p| p.parse::<u64>().ok()),
        q.limit.and_then(|l| l.parse::<u64>().ok()),
    ) else {
        return err(StatusCode::BAD_REQUEST, "page and limit must be numbers");
    };
    let first = u64::from(!sh.opts.zero_based_pages);
    if limit == 0 || page < first {
        return err(StatusCode::BAD_REQUEST, "Invalid pagination parameters");
    }
    let want = lower(&address);
    let mut defs: Vec<Value> = {
        let s = sh.lock();
        s.definitions
            .iter()
            .rev()
            .filter(|d| {
                d.get("operators")
                    .and_then(Value::as_array)
                    .is_some_and(|ops| ops.iter().any(|o| lower(text(o, "address")) == want))
            })
            .chain(s.listed_for_all.iter())
            .cloned()
            .collect()
    };
    newest_first(&mut defs);
    let total = defs.len() as u64;
    let total_pages = total.div_ceil(limit);
    let start = (page - first).saturating_mul(limit);
    let items: Vec<Value> = defs
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    let mut body = json!({
        "cluster_definitions": items,
        "total_count": total,
        "total_pages": total_pages,
    });
    if sh.opts.legacy_paging_hints {
        let has_next = page + 1 < first + total_pages;
        body["has_next_page"] = json!(has_next);
        body["next_page"] = if has_next {
            json!(page + 1)
        } else {
            Value::Null
        };
    }
    Json(body).into_response()
}

async fn get_definition(State(sh): State<Shared>, Path(hash): Path<String>) -> Response {
    let s = sh.lock();
    match s.position(&lower(&hash)) {
        Some(i) => Json(s.definitions[i].clone()).into_response(),
        None => err(StatusCode::NOT_FOUND, "Cluster definition not found"),
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let t = v.strip_prefix("Bearer ")?.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The bearer signature and JSON body every write needs. A request without
/// them is answered as the API does; a JSON body that does not parse gets
/// axum's rejection, as an `Option<Json>` argument would.
struct Signed(String, Value);

impl FromRequest<Shared> for Signed {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, Response> {
        let sig = bearer(req.headers());
        let body = <Json<Value> as OptionalFromRequest<Shared>>::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(sig) = sig else {
            return Err(err(
                StatusCode::UNAUTHORIZED,
                "Missing authorization header",
            ));
        };
        let Some(Json(body)) = body else {
            return Err(err(StatusCode::BAD_REQUEST, "Invalid payload data"));
        };
        Ok(Signed(sig, body))
    }
}

async fn accept_definition(
    State(sh): State<Shared>,
    Path(hash): Path<String>,
    Signed(config_sig, body): Signed,
) -> Response {
    let (address, enr, enr_sig) = (
        text(&body, "address").to_string(),
        text(&body, "enr").to_string(),
        text(&body, "enr_signature").to_string(),
    );
    if address.is_empty() || enr.is_empty() || enr_sig.is_empty() {
        return err(StatusCode::BAD_REQUEST, "Invalid payload data");
    }
    let want = lower(&hash);
    let mut s = sh.lock();
    let Some(idx) = s.position(&want) else {
        return err(StatusCode::NOT_FOUND, "Cluster definition not found");
    };
    let def = &s.definitions[idx];
    if sh.opts.verify_signatures {
        let Ok(chain) = defn::chain_id(text(def, "fork_version")) else {
            return err(StatusCode::BAD_REQUEST, "Invalid fork version");
        };
        let signer_cfg =
            defn::recover_signer(&config_sig, Eip712Message::OperatorConfigHash(&want, chain));
        let signer_enr = defn::recover_signer(&enr_sig, Eip712Message::Enr(&enr, chain));
        let ok = matches!((&signer_cfg, &signer_enr), (Ok(a), Ok(b))
            if a.eq_ignore_ascii_case(&address) && b.eq_ignore_ascii_case(&address));
        if !ok {
            return err(StatusCode::UNAUTHORIZED, "Signature verification failed");
        }
    }
    if !s.terms.contains(&lower(&address)) {
        return err(StatusCode::UNAUTHORIZED, "Missing t&c signature");
    }
    let mut def = s.definitions[idx].clone();
    let Some(op) = def
        .get_mut("operators")
        .and_then(Value::as_array_mut)
        .and_then(|ops| {
            ops.iter_mut()
                .find(|o| lower(text(o, "address")) == lower(&address))
        })
    else {
        return err(StatusCode::NOT_FOUND, "Data not found");
    };
    op["enr"] = json!(enr);
    op["enr_signature"] = json!(enr_sig);
    op["config_signature"] = json!(config_sig);
    if let Err(e) = defn::recompute_definition_hash(&mut def) {
        return err(StatusCode::BAD_REQUEST, &format!("Invalid definition: {e}"));
    }
    s.definitions[idx] = def.clone();
    Json(def).into_response()
}

async fn create_definition(State(sh): State<Shared>, Signed(sig, def): Signed) -> Response {
    let Some(hash) = config_hash(&def) else {
        return err(StatusCode::BAD_REQUEST, "Invalid payload data");
    };
    let creator = def
        .get("creator")
        .map(|c| text(c, "address").to_string())
        .unwrap_or_default();
    let mut s = sh.lock();
    if sh.opts.verify_signatures {
        let chain = defn::chain_id(text(&def, "fork_version"));
        let ok = chain
            .and_then(|c| defn::recover_signer(&sig, Eip712Message::CreatorConfigHash(&hash, c)))
            .is_ok_and(|a| a.eq_ignore_ascii_case(&creator));
        if !ok {
            return err(StatusCode::UNAUTHORIZED, "Signature verification failed");
        }
    }
    if !s.terms.contains(&lower(&creator)) {
        return err(StatusCode::UNAUTHORIZED, "Missing t&c signature");
    }
    if s.position(&hash).is_some() {
        return err(StatusCode::CONFLICT, "Duplicate entry");
    }
    s.definitions.push(def.clone());
    (StatusCode::CREATED, Json(def)).into_response()
}

async fn accept_terms(State(sh): State<Shared>, Signed(sig, body): Signed) -> Response {
    let address = text(&body, "address").to_string();
    if address.is_empty()
        || !text(&body, "terms_and_conditions_hash").eq_ignore_ascii_case(TERMS_AND_CONDITIONS_HASH)
        || body.get("version").and_then(Value::as_u64) != Some(1)
    {
        return err(StatusCode::BAD_REQUEST, "Invalid terms and conditions hash");
    }
    if sh.opts.verify_signatures
        && !defn::recover_signer(&sig, Eip712Message::Terms)
            .is_ok_and(|a| a.eq_ignore_ascii_case(&address))
    {
        return err(StatusCode::UNAUTHORIZED, "Signature verification failed");
    }
    let mut s = sh.lock();
    let fresh = s.terms.insert(lower(&address));
    if !fresh && sh.opts.terms_conflict_on_repeat {
        return err(StatusCode::CONFLICT, "Conflict");
    }
    (
        StatusCode::CREATED,
        Json(json!({"message": "successful authorization", "success": true})),
    )
        .into_response()
}

async fn terms_status(State(sh): State<Shared>, Path(address): Path<String>) -> Response {
    let signed = sh.lock().terms.contains(&lower(&address));
    Json(json!({"isTermsAndConditionsSigned": signed})).into_response()
}

async fn publish_lock(State(sh): State<Shared>, body: Option<Json<Value>>) -> Response {
    let Some(Json(lock)) = body else {
        return err(StatusCode::BAD_REQUEST, "Invalid lock");
    };
    let hash = lower(text(&lock, "lock_hash"));
    let def_hash = lock
        .get("cluster_definition")
        .and_then(config_hash)
        .unwrap_or_default();
    if hash.is_empty() || def_hash.is_empty() {
        return err(StatusCode::BAD_REQUEST, "Invalid lock");
    }
    let mut s = sh.lock();
    if s.position(&def_hash).is_none() {
        return err(
            StatusCode::NOT_FOUND,
            "The cluster definition corresponding to this lock file was not found",
        );
    }
    if let Some(existing) = s.locks.iter().find(|l| lower(text(l, "lock_hash")) == hash) {
        if sh.opts.lock_conflict_on_duplicate {
            return err(StatusCode::CONFLICT, "Conflict");
        }
        return (StatusCode::CREATED, Json(existing.clone())).into_response();
    }
    s.locks.push(lock.clone());
    (StatusCode::CREATED, Json(lock)).into_response()
}

fn find_lock(sh: &Shared, pred: impl Fn(&Value) -> bool) -> Response {
    match sh.lock().locks.iter().find(|l| pred(l)) {
        Some(l) => Json(l.clone()).into_response(),
        None => err(StatusCode::NOT_FOUND, "Cluster not found"),
    }
}

async fn lock_by_hash(State(sh): State<Shared>, Path(hash): Path<String>) -> Response {
    let want = lower(&hash);
    find_lock(&sh, |l| lower(text(l, "lock_hash")) == want)
}

async fn lock_by_config_hash(State(sh): State<Shared>, Path(hash): Path<String>) -> Response {
    let want = lower(&hash);
    find_lock(&sh, |l| {
        l.get("cluster_definition").and_then(config_hash).as_deref() == Some(want.as_str())
    })
}
