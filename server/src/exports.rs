//! Downloads and extracts that are files, not app pages:
//! - the Delivery Report as CSV at `GET /admin/messenger/messages/{id}/delivery.csv?device=&status=&q=`;
//! - the Utilization Report at `GET /admin/messenger/reports/utilization/extract?start=&end=&sent_to=&format=`,
//!   as CSV or as a standalone HTML page.
//!
//! What must stay true: only a signed-in district admin gets a file (anyone else gets 403, or a
//! redirect to sign-in); bad input is answered 400 naming the field; the Delivery Report is
//! streamed a page of jobs at a time, so exporting a 250,000-job message holds one page in
//! memory, never the whole report.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, StreamExt};
use herald_app::auth::ssr::admin_from;
use herald_app::error::AppError;
use herald_app::state::AppState;
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
    if let Err(refused) = admin_from(&state, &headers).await {
        return refused.into_response();
    }
    let Ok(id) = id.parse::<MessageId>() else {
        return AppError::NotFound.into_response();
    };
    let (counts, tz) = match tokio::try_join!(
        delivery_report::counts(&state.pool, id),
        herald_core::directory::time_zone(&state.pool)
    ) {
        Ok(v) => v,
        Err(e) => return AppError::internal("delivery report export", &e).into_response(),
    };
    if counts.is_empty() {
        return AppError::NotFound.into_response();
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
        // Fused: a wrapper such as the compression layer may poll once more after the last
        // line, which an unfused `unfold` answers with a panic.
        axum::body::Body::from_stream(header_line.chain(body).fuse()),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct UtilizationQuery {
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    sent_to: String,
    #[serde(default)]
    format: String,
}

/// A `YYYY-MM-DD` date with a four-digit year: chrono reads `+262143-12-31` too, and the day
/// after it does not exist.
fn date(field: &str, value: &str) -> Result<chrono::NaiveDate, AppError> {
    use chrono::Datelike;
    chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| (1000..=9999).contains(&d.year()))
        .ok_or_else(|| AppError::Invalid(format!("{field}: '{value}' is not a date (YYYY-MM-DD).")))
}

pub async fn utilization(
    State(state): State<AppState>,
    Query(q): Query<UtilizationQuery>,
    headers: HeaderMap,
) -> Response {
    match utilization_extract(&state, &q, &headers).await {
        Ok(r) => r,
        Err(r) => r.into_response(),
    }
}

async fn utilization_extract(
    state: &AppState,
    q: &UtilizationQuery,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    use herald_core::messaging::utilization;
    admin_from(state, headers).await?;
    let start = date("Start Date", &q.start)?;
    let end = date("End Date", &q.end)?;
    if end < start {
        return Err(AppError::Invalid(format!(
            "End Date: {end} is before the Start Date, {start}."
        )));
    }
    let device = match q.sent_to.as_str() {
        "email" => Device::Email,
        "phone" => Device::Phone,
        other => {
            return Err(AppError::Invalid(format!(
                "Messages Sent To: '{other}' is not email or phone."
            )));
        }
    };
    let unavailable = |e: sqlx::Error| AppError::internal("utilization report", &e);
    let tz = herald_core::directory::time_zone(&state.pool)
        .await
        .map_err(unavailable)?;
    let from = herald_core::directory::day_start(tz, start);
    let until = herald_core::directory::day_start(tz, end + chrono::Days::new(1));
    let rows = utilization::rows(&state.pool, device, from, until, tz.name())
        .await
        .map_err(unavailable)?;
    let name = format!("utilization-{}-{start}-to-{end}", device.as_str());
    match q.format.as_str() {
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.csv\""),
                ),
            ],
            utilization::csv(device, &rows),
        )
            .into_response()),
        "html" => {
            Ok(axum::response::Html(utilization_html(device, start, end, &rows)).into_response())
        }
        other => Err(AppError::Invalid(format!(
            "Format: '{other}' is not csv or html."
        ))),
    }
}

/// The HTML extract: a page of its own, readable and printable, totals by day and by school.
fn utilization_html(
    device: Device,
    start: chrono::NaiveDate,
    end: chrono::NaiveDate,
    rows: &[herald_core::messaging::utilization::Row],
) -> String {
    use herald_core::messaging::template::escape_html;
    use herald_core::messaging::utilization::{Counts, totals};
    use std::fmt::Write as _;
    let t = totals(rows);
    let (what, delivered) = match device {
        Device::Phone => ("Phone calls", "Calls completed"),
        _ => ("Emails", "Delivered"),
    };
    let title = format!(
        "Utilization Report: {what}, {} to {}",
        start.format("%b %-d, %Y"),
        end.format("%b %-d, %Y")
    );
    let head = format!(
        "<tr><th scope=\"col\">{{}}</th><th scope=\"col\">Messages</th><th scope=\"col\">Attempted</th>\
         <th scope=\"col\">{delivered}</th><th scope=\"col\">Failed</th></tr>"
    );
    let line = |label: &str, c: &Counts| {
        format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(label),
            c.messages,
            c.attempted,
            c.delivered,
            c.failed
        )
    };
    let mut html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Herald</title><link rel=\"stylesheet\" href=\"{css}\"></head>\
         <body><main class=\"extract\"><h1>{t}</h1>\
         <p class=\"muted\">A message counts on the day its delivery started, under its school \
         (\u{201c}District-wide\u{201d} when it went to every school). The numbers are each message's own \
         Delivery Report totals.</p>",
        t = escape_html(&title),
        css = crate::assets::stylesheet()
    );
    if rows.is_empty() {
        html.push_str("<p>No messages were sent in these dates.</p>");
    } else {
        let _ = write!(
            html,
            "<h2>Total</h2><table class=\"grid\" data-testid=\"total\"><thead>{}</thead><tbody>{}</tbody></table>",
            head.replace("{}", "&nbsp;"),
            line("All schools, all days", &t.all)
        );
        let _ = write!(
            html,
            "<h2>By day</h2><table class=\"grid\" data-testid=\"by-day\"><thead>{}</thead><tbody>",
            head.replace("{}", "Date")
        );
        for (day, c) in &t.by_day {
            html.push_str(&line(&day.format("%a %b %-d, %Y").to_string(), c));
        }
        let _ = write!(
            html,
            "</tbody></table><h2>By school</h2><table class=\"grid\" data-testid=\"by-school\"><thead>{}</thead><tbody>",
            head.replace("{}", "School")
        );
        for (school, c) in &t.by_school {
            html.push_str(&line(school, c));
        }
        html.push_str("</tbody></table>");
    }
    html.push_str("</main></body></html>");
    html
}
