//! The Delivery Report (`/admin/messenger/messages/:id/report`, "View Delivery Report" on a
//! message): per device, what was attempted and where it stands, with a progress bar that moves
//! while the send is under way; who could not be reached and why; and every recipient, a page
//! at a time, with a status filter, a search and a CSV download of what is shown.
//!
//! What must stay true: only district admins see it; counts come from
//! `herald_core::messaging::delivery_report`, which stays cheap on a 250,000-job message.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;
use crate::present::UnreachedLine;
use crate::ui::{LoadedTransition, TableWrap, url_id};

/// One device's line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceReport {
    /// `Device::as_str`, for the recipient filter.
    pub device: String,
    pub label: String,
    pub total: i64,
    pub sent: i64,
    pub failed: i64,
    pub canceled: i64,
    pub queued: i64,
    pub in_progress: i64,
    pub retrying: i64,
    pub percent: u8,
    /// Who is not reachable on this device, and why.
    pub unreached: Vec<UnreachedLine>,
    /// For phone: who answered the completed calls, in words.
    pub answers: Option<String>,
}

/// The report's head: the message and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportHead {
    pub id: Uuid,
    pub subject: String,
    pub state: String,
    /// Scheduled or sending: the counts refresh themselves.
    pub under_way: bool,
    pub recipients: i64,
    pub devices: Vec<DeviceReport>,
    /// Said when the message is under way and no worker is running.
    pub workers_warning: Option<String>,
}

#[server(endpoint = "delivery_report")]
pub async fn delivery_report(id: Uuid) -> Result<ReportHead, AppError> {
    use crate::present::ssr::{under_way, unreached_line, workers_warning};
    use herald_core::domain::MessageId;
    use herald_core::messaging::{delivery_report, sent_messages};
    let state = crate::auth::ssr::admin().await?.0.state;
    let id = MessageId(id);
    let s = sent_messages::status(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let counts = delivery_report::counts(&state.pool, id).await?;
    let under_way = under_way(s.state);
    Ok(ReportHead {
        id: id.0,
        workers_warning: workers_warning(&state, under_way).await?,
        under_way,
        subject: s.subject,
        state: s.state.label().into(),
        recipients: s.recipients,
        devices: counts
            .into_iter()
            .map(|c| DeviceReport {
                device: c.device.as_str().into(),
                label: c.device.label().into(),
                total: c.total,
                sent: c.sent,
                failed: c.failed,
                canceled: c.canceled,
                queued: c.queued,
                in_progress: c.in_progress,
                retrying: c.retrying,
                percent: c.percent_done(),
                answers: ssr::answers(&c),
                unreached: s
                    .unreached
                    .iter()
                    .filter(|u| u.device == c.device)
                    .map(unreached_line)
                    .collect(),
            })
            .collect(),
    })
}

#[cfg(feature = "ssr")]
mod ssr {
    use herald_core::domain::Device;
    use herald_core::messaging::delivery_report::DeviceCounts;

    /// For phone: who answered the completed calls, in words.
    pub fn answers(c: &DeviceCounts) -> Option<String> {
        (c.device == Device::Phone && c.sent > 0).then(|| {
            let other = c.sent - c.answered_by_person - c.answered_by_machine;
            let mut s = format!(
                "Completed calls: {} ({} answered by a person, {} by an answering machine",
                c.sent, c.answered_by_person, c.answered_by_machine
            );
            if other > 0 {
                s.push_str(&format!(", {other} with no answering-machine detection"));
            }
            s.push_str(").");
            s
        })
    }
}

/// One recipient line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientLine {
    pub person: String,
    pub students: String,
    pub address: String,
    pub status: String,
    pub at: String,
    pub attempts: i32,
    pub error: String,
    /// A phone job's latest call, in words.
    pub call: String,
}

/// A page of recipients, and the `after` of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientPage {
    pub rows: Vec<RecipientLine>,
    /// The page lists phone jobs, so it has a Call column.
    pub calls: bool,
    pub next: Option<String>,
}

/// Recipients per page.
pub const PAGE: i64 = 50;

#[server(endpoint = "delivery_recipients")]
pub async fn delivery_recipients(
    id: Uuid,
    device: String,
    status: String,
    search: String,
    after: Option<String>,
) -> Result<RecipientPage, AppError> {
    use herald_core::domain::{Device, JobId};
    use herald_core::messaging::delivery_report::{self, RecipientQuery, StatusFilter};
    let state = crate::auth::ssr::admin().await?.0.state;
    let id = herald_core::domain::MessageId(id);
    let device: Device = device.parse().map_err(|_| {
        AppError::Invalid(format!("Device: '{device}' is not email, inbox or phone."))
    })?;
    let query = RecipientQuery {
        device,
        status: StatusFilter::parse(&status),
        search: Some(search),
    };
    let after = match after.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => Some(JobId(a.parse().map_err(|_| AppError::NotFound)?)),
        None => None,
    };
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let mut rows = delivery_report::recipients(&state.pool, id, &query, after, PAGE + 1).await?;
    let next = if rows.len() as i64 > PAGE {
        rows.truncate(PAGE as usize);
        rows.last().map(|r| r.job.0.to_string())
    } else {
        None
    };
    Ok(RecipientPage {
        rows: rows
            .into_iter()
            .map(|r| RecipientLine {
                person: r.person,
                students: r.students,
                address: match device {
                    Device::Inbox => "Portal inbox".into(),
                    Device::Phone => crate::format::phone(&r.target),
                    Device::Email => r.target,
                },
                status: StatusFilter::of(r.status).label().into(),
                at: crate::format::when(r.at, tz),
                attempts: r.attempts,
                error: r.error.unwrap_or_default(),
                call: r.call.unwrap_or_default(),
            })
            .collect(),
        calls: device == Device::Phone,
        next,
    })
}

/// `/admin/messenger/messages/:id/report`.
#[component]
pub fn DeliveryReportPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || url_id(&params.read().get("id").unwrap_or_default());
    let refresh = RwSignal::new(0u32);
    let head = Resource::new(
        move || (id(), refresh.get()),
        |(id, _)| async move { delivery_report(id?).await },
    );
    // While the message is scheduled or sending, the counts refresh every two seconds.
    crate::poll::refresh_while(std::time::Duration::from_secs(2), refresh, move || {
        head.with_untracked(|h| !matches!(h, Some(Ok(h)) if !h.under_way))
    });
    view! {
        <LoadedTransition resource=head let:h>
            {
                let devices: Vec<(String, String)> =
                    h.devices.iter().map(|d| (d.device.clone(), d.label.clone())).collect();
                view! {
                    <p><a href=format!("/admin/messenger/messages/{}", h.id)>"← Message details"</a></p>
                    <h1>"Delivery Report: " {h.subject.clone()}</h1>
                    <dl class="facts">
                        <div><dt>"Status"</dt><dd data-testid="report-state">{h.state.clone()}</dd></div>
                        <div><dt>"Recipients"</dt><dd>{h.recipients}</dd></div>
                    </dl>
                    {h.workers_warning.clone().map(|w| view! { <p class="notice" data-testid="workers-silent">{w}</p> })}
                    <Counts devices=h.devices.clone() />
                    {(!devices.is_empty()).then(|| view! { <Recipients id=h.id devices /> })}
                }
            }
        </LoadedTransition>
    }
}

#[component]
fn Counts(devices: Vec<DeviceReport>) -> impl IntoView {
    if devices.is_empty() {
        return view! { <p class="muted">"Not fanned out yet: delivery has not started."</p> }
            .into_any();
    }
    let rows = devices.iter().map(|d| view! {
        <tr data-device=d.device.clone()>
            <th scope="row">{d.label.clone()}</th>
            <td>
                <progress max="100" value=d.percent aria-label=format!("{} done", d.label)></progress>
                <span class="pct">{format!(" {}%", d.percent)}</span>
            </td>
            <td>{d.total}</td><td>{d.sent}</td><td>{d.failed}</td><td>{d.canceled}</td>
            <td>{d.queued}</td><td>{d.in_progress}</td><td>{d.retrying}</td>
        </tr>
    }).collect_view();
    view! {
        <TableWrap label="Counts by device">
        <table class="grid counts" data-testid="report-counts">
            <thead><tr>
                <th scope="col">"Device"</th><th scope="col">"Progress"</th><th scope="col">"Attempted"</th>
                <th scope="col">"Completed"</th><th scope="col">"Failed"</th><th scope="col">"Canceled"</th>
                <th scope="col">"Queued"</th><th scope="col">"In progress"</th><th scope="col">"Retrying"</th>
            </tr></thead>
            <tbody>
                {rows}
            </tbody>
        </table>
        </TableWrap>
        {devices.iter().filter_map(|d| d.answers.clone()).map(|a| view! {
            <p data-testid="phone-answers">{a}</p>
        }).collect_view()}
        {devices.iter().any(|d| !d.unreached.is_empty()).then(|| view! {
            <h2>"Not reachable"</h2>
            <ul data-testid="report-unreached">
                {devices.iter().flat_map(|d| d.unreached.iter().map(|u| view! {
                    <li>{format!("{}: {} — {}", u.device, u.people, u.cause)}</li>
                })).collect_view()}
            </ul>
        })}
    }
    .into_any()
}

#[component]
fn Recipients(id: Uuid, devices: Vec<(String, String)>) -> impl IntoView {
    let device = RwSignal::new(devices.first().map(|d| d.0.clone()).unwrap_or_default());
    let status = RwSignal::new(String::new());
    let search = RwSignal::new(String::new());
    // The `after` of each page shown so far; the last is the current page's.
    let pages = RwSignal::new(vec![None::<String>]);
    let reset = move || pages.set(vec![None]);
    let rows = Resource::new(
        move || {
            (
                id,
                device.get(),
                status.get(),
                search.get(),
                pages.with(|p| p.last().cloned().flatten()),
            )
        },
        |(id, device, status, search, after)| {
            delivery_recipients(id, device, status, search, after)
        },
    );
    let csv = move || {
        format!(
            "/admin/messenger/messages/{}/delivery.csv?device={}&status={}&q={}",
            id,
            device.get(),
            status.get(),
            crate::format::query_value(&search.get())
        )
    };
    view! {
        <h2>"Recipients"</h2>
        <div class="report-filters">
            <label>"Device"
                <select on:change=move |ev| { device.set(event_target_value(&ev)); reset(); } prop:value=move || device.get()>
                    {devices.iter().map(|(v, l)| view! { <option value=v.clone()>{l.clone()}</option> }).collect_view()}
                </select>
            </label>
            <label>"Status"
                <select on:change=move |ev| { status.set(event_target_value(&ev)); reset(); } prop:value=move || status.get()>
                    <option value="">"All"</option>
                    {crate::choices::STATUSES.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                </select>
            </label>
            <label>"Search"
                <input type="search" placeholder="Name, student number, email or phone"
                    prop:value=move || search.get()
                    on:change=move |ev| { search.set(event_target_value(&ev)); reset(); } />
            </label>
            <a class="button secondary" href=csv download>"Download CSV"</a>
        </div>
        <LoadedTransition resource=rows let:page>
            {if page.rows.is_empty() {
                view! { <p class="muted" data-testid="recipients-empty">"No recipients match."</p> }.into_any()
            } else {
                let calls = page.calls;
                view! {
                    <TableWrap label="Recipients">
                    <table class="grid" data-testid="recipients">
                        <thead><tr>
                            <th scope="col">"Person"</th><th scope="col">"Students"</th><th scope="col">"Address"</th>
                            <th scope="col">"Status"</th><th scope="col">"Time"</th><th scope="col">"Attempts"</th><th scope="col">"Error"</th>
                            {calls.then(|| view! { <th scope="col">"Call"</th> })}
                        </tr></thead>
                        <tbody>
                            {page.rows.into_iter().map(|r| view! {
                                <tr>
                                    <td>{r.person}</td><td>{r.students}</td><td>{r.address}</td>
                                    <td>{r.status}</td><td class="nowrap">{r.at}</td><td>{r.attempts}</td><td>{r.error}</td>
                                    {calls.then(|| view! { <td>{r.call.clone()}</td> })}
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    </TableWrap>
                    <nav class="pager" aria-label="Recipient pages">
                        {move || (pages.with(|p| p.len()) > 1).then(|| view! {
                            <button type="button" class="secondary" on:click=move |_| pages.update(|p| { p.pop(); })>"Previous page"</button>
                        })}
                        {page.next.map(|n| view! {
                            <button type="button" class="secondary" on:click=move |_| pages.update(|p| p.push(Some(n.clone())))>"Next page"</button>
                        })}
                    </nav>
                }.into_any()
            }}
        </LoadedTransition>
    }
}
