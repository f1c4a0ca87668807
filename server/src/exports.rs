//! Downloads that are files, not pages: the Delivery Report as CSV at
//! `GET /admin/messenger/messages/{id}/delivery.csv?device=&status=&q=`.
//!
//! What must stay true: only a signed-in district admin gets a file (anyone else gets 403, or a
//! redirect to sign-in); the file is streamed a page of jobs at a time, so exporting a
//! 250,000-job message holds one page in memory, never the whole report.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use futures::stream::{self, StreamExt};
use herald_app::state::AppState;
use herald_core::accounts::{self, Role, SessionToken};
use herald_core::domain::{Device, JobId, MessageId};
use herald_core::messaging::delivery_report::{self, RecipientQuery, StatusFilter};
use serde::Deserialize;

/// Jobs read per database round trip while streaming.
const CHUNK: i64 = 2_000;

#[derive(Debug, Deserialize)]
pub struct CsvQuery {
    #[serde(default)]
    device: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    q: String,
}

/// Why a download is refused before it starts.
enum Refusal {
    SignIn,
    Forbidden,
    NotFound,
    Unavailable,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => Redirect::to("/sign-in").into_response(),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                "Your account is not allowed to do that.\n",
            )
                .into_response(),
            Self::NotFound => (StatusCode::NOT_FOUND, "Not found.\n").into_response(),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Herald could not do that just now. Please try again.\n",
            )
                .into_response(),
        }
    }
}

async fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), Refusal> {
    let cookie = herald_app::auth::ssr::cookie_value(headers, herald_app::auth::ssr::COOKIE)
        .ok_or(Refusal::SignIn)?;
    let session = accounts::session_account(&state.pool, &SessionToken::from_cookie(&cookie))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "export: session lookup failed");
            Refusal::Unavailable
        })?
        .ok_or(Refusal::SignIn)?;
    if session.account.role == Role::DistrictAdmin {
        Ok(())
    } else {
        Err(Refusal::Forbidden)
    }
}

/// Where the stream is: which device, after which job; `None` once every device is done.
struct Cursor {
    devices: Vec<Device>,
    after: Option<JobId>,
}

pub async fn delivery_csv(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<CsvQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = require_admin(&state, &headers).await {
        return r.into_response();
    }
    let Ok(id) = id.parse::<MessageId>() else {
        return Refusal::NotFound.into_response();
    };
    let (counts, tz) = match tokio::try_join!(
        delivery_report::counts(&state.pool, id),
        herald_core::directory::time_zone(&state.pool)
    ) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "export: counts failed");
            return Refusal::Unavailable.into_response();
        }
    };
    if counts.is_empty() {
        return Refusal::NotFound.into_response();
    }
    let mut devices: Vec<Device> = counts.iter().map(|c| c.device).collect();
    if let Ok(only) = q.device.parse::<Device>() {
        devices.retain(|d| *d == only);
    }
    devices.reverse(); // popped from the end, so the file is in device order
    let status = StatusFilter::parse(&q.status);
    let search = Some(q.q).filter(|s| !s.trim().is_empty());
    let pool = state.pool.clone();
    let header_line =
        stream::once(async { Ok::<_, std::io::Error>(delivery_report::csv_header()) });
    let body = stream::unfold(
        Some(Cursor {
            devices,
            after: None,
        }),
        move |cursor| {
            let pool = pool.clone();
            let search = search.clone();
            async move {
                let mut c = cursor?;
                loop {
                    let device = *c.devices.last()?;
                    let query = RecipientQuery {
                        device,
                        status,
                        search: search.clone(),
                    };
                    let rows = match delivery_report::recipients(&pool, id, &query, c.after, CHUNK)
                        .await
                    {
                        Ok(rows) => rows,
                        Err(e) => {
                            // The client sees a cut-off file and the error is logged; a status
                            // cannot be changed once the body has started.
                            tracing::error!(error = %e, message = %id, "export: page failed");
                            return Some((Err(std::io::Error::other("export failed")), None));
                        }
                    };
                    if rows.is_empty() {
                        c.devices.pop();
                        c.after = None;
                        continue;
                    }
                    c.after = rows.last().map(|r| r.job);
                    let bytes = delivery_report::csv_lines(device, &rows, tz);
                    return Some((Ok(bytes), Some(c)));
                }
            }
        },
    );
    let filename = format!("delivery-report-{id}.csv");
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        axum::body::Body::from_stream(header_line.chain(body)),
    )
        .into_response()
}
