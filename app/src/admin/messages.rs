//! Sent Messages and one message's status: what was sent in the chosen calendar (within a date
//! range, by sender and type, in the district's time zone), and for one
//! message the counts per device (sent, failed, canceled, still in queue), who was not reached
//! and why, and what failed with the server's words. A message still sending refreshes itself.
//!
//! What must stay true: counts come from `message_tally` (cheap on a 250,000-job message); only
//! district admins can see or cancel messages.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::admin::ToolbarCalendar;
use crate::error::AppError;
use crate::present::UnreachedLine;
use crate::ui::{ErrorAlert, LoadedTransition, url_id};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageLine {
    pub id: Uuid,
    pub subject: String,
    pub reason: String,
    pub sender: String,
    /// When delivery starts.
    pub delivery: String,
    pub state: String,
    pub devices: String,
    pub total: i64,
    pub sent: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLine {
    pub device: String,
    pub total: i64,
    pub sent: i64,
    pub failed: i64,
    pub canceled: i64,
    pub pending: i64,
}

/// Someone a message did not reach on a device, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreachedPerson {
    pub name: String,
    /// `Device::label`.
    pub device: String,
    /// `UnreachedCause::label`.
    pub cause: String,
}

/// A job that failed or is waiting to retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trouble {
    /// `Device::label`.
    pub device: String,
    /// The address or number it went to.
    pub to: String,
    pub retrying: bool,
    pub attempts: i32,
    /// The server's (or the provider's) words.
    pub said: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: Uuid,
    pub subject: String,
    pub reason: String,
    pub sender: String,
    pub created: String,
    pub start: String,
    pub finished: Option<String>,
    pub state: String,
    /// Scheduled or sending: the page refreshes itself and offers to cancel.
    pub under_way: bool,
    pub is_test: bool,
    pub recipients: i64,
    /// The devices chosen, as words ("Email, Portal inbox").
    pub chosen_devices: String,
    pub devices: Vec<DeviceLine>,
    /// Said when the message is under way and no worker is running.
    pub workers_warning: Option<String>,
    pub unreached: Vec<UnreachedLine>,
    pub unreached_people: Vec<UnreachedPerson>,
    pub troubles: Vec<Trouble>,
    /// Where calls not yet done stand, in words (none when every call is done).
    pub phone_note: Option<String>,
}

#[cfg(feature = "ssr")]
mod ssr {
    use herald_core::domain::Device;

    /// The devices, as words ("Email, Portal inbox").
    pub fn devices(devices: &[Device]) -> String {
        devices
            .iter()
            .map(|d| d.label())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The Sent Messages list and the choices of its filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentList {
    pub rows: Vec<MessageLine>,
    /// (email, name) of everyone who sent in the calendar.
    pub senders: Vec<(String, String)>,
    /// More messages match than are listed.
    pub truncated: bool,
}

/// Messages listed at most; a narrower date range shows older ones.
pub const LIST_LIMIT: i64 = 200;

#[server(endpoint = "sent_messages")]
pub async fn sent_messages(
    calendar_id: Option<String>,
    from: String,
    until: String,
    sender: String,
    reason: String,
) -> Result<SentList, AppError> {
    use crate::present::ssr::day_start;
    use herald_core::messaging::sent_messages::{self, ListFilter};
    let state = crate::auth::ssr::admin().await?.0.state;
    let Some(calendar) = calendar_id.and_then(|c| c.parse().ok()) else {
        return Ok(SentList {
            rows: Vec::new(),
            senders: Vec::new(),
            truncated: false,
        });
    };
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let filter =
        ListFilter {
            from: day_start("From", &from, tz, 0)?,
            until: day_start("To", &until, tz, 1)?,
            sender: Some(sender).filter(|s| !s.is_empty()),
            reason: match reason.as_str() {
                "" => None,
                r => Some(r.parse().map_err(|_| {
                    AppError::Invalid(format!("Type: '{r}' is not a message type."))
                })?),
            },
        };
    if let (Some(f), Some(u)) = (filter.from, filter.until)
        && f >= u
    {
        return Err(AppError::Invalid(
            "To: the date range ends before it starts.".into(),
        ));
    }
    let mut rows = sent_messages::list(&state.pool, calendar, &filter, LIST_LIMIT + 1).await?;
    let truncated = rows.len() as i64 > LIST_LIMIT;
    rows.truncate(LIST_LIMIT as usize);
    Ok(SentList {
        senders: sent_messages::senders(&state.pool, calendar).await?,
        truncated,
        rows: rows
            .into_iter()
            .map(|r| MessageLine {
                id: r.id.0,
                subject: r.subject,
                reason: r.reason.label().into(),
                sender: r.sender_name,
                delivery: crate::format::when(r.start_at, tz),
                state: r.state.label().into(),
                devices: ssr::devices(&r.devices),
                total: r.total,
                sent: r.sent,
                failed: r.failed,
            })
            .collect(),
    })
}

#[server(endpoint = "load_message_view")]
pub async fn load_message_view(id: Uuid) -> Result<MessageView, AppError> {
    use crate::format::when;
    use crate::present::ssr::{phone_note, under_way, unreached_line, workers_warning};
    use herald_core::domain::{Device, MessageId};
    use herald_core::messaging::sent_messages;
    let state = crate::auth::ssr::admin().await?.0.state;
    let id = MessageId(id);
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let s = sent_messages::status(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let unreached_people = sent_messages::unreached_people(&state.pool, id, 100).await?;
    let troubles = sent_messages::troubled_jobs(&state.pool, id, 100).await?;
    let phone_pending = s
        .tallies
        .iter()
        .any(|t| t.device == Device::Phone && t.pending() > 0);
    let phone_note = if phone_pending {
        phone_note(&state, id, tz).await?
    } else {
        None
    };
    let under_way = under_way(s.state);
    Ok(MessageView {
        phone_note,
        workers_warning: workers_warning(&state, under_way).await?,
        under_way,
        id: s.id.0,
        subject: s.subject,
        reason: s.reason.label().into(),
        sender: s.sender_name,
        created: when(s.created_at, tz),
        start: when(s.start_at, tz),
        finished: s.finished_at.map(|t| when(t, tz)),
        state: s.state.label().into(),
        is_test: s.is_test,
        recipients: s.recipients,
        chosen_devices: ssr::devices(&s.devices),
        devices: s
            .tallies
            .iter()
            .map(|t| DeviceLine {
                device: t.device.label().into(),
                total: t.total,
                sent: t.sent,
                failed: t.failed,
                canceled: t.canceled,
                pending: t.pending(),
            })
            .collect(),
        unreached: s.unreached.iter().map(unreached_line).collect(),
        unreached_people: unreached_people
            .into_iter()
            .map(|u| UnreachedPerson {
                name: u.name,
                device: u.device.label().into(),
                cause: u.cause.label().into(),
            })
            .collect(),
        troubles: troubles
            .into_iter()
            .map(|t| Trouble {
                device: t.device.label().into(),
                to: t.target,
                retrying: t.retrying,
                attempts: t.attempts,
                said: t.last_error,
            })
            .collect(),
    })
}

/// Cancels what is still queued, on record; returns how many jobs were canceled.
#[server(endpoint = "cancel_message")]
pub async fn cancel_message(id: Uuid) -> Result<u64, AppError> {
    use herald_core::domain::MessageId;
    use herald_core::messaging::cancel::{self, CancelScope, Canceler};
    let crate::auth::ssr::Caller { state, session, .. } = crate::auth::ssr::admin().await?.0;
    let id = MessageId(id);
    let by = Canceler {
        account: session.account.id,
        email: session.account.email.clone(),
    };
    let done = cancel::cancel(&state.pool, &by, CancelScope::Message, &[id]).await?;
    tracing::info!(message = %id, by = %by.email, jobs = done.jobs, "message canceled");
    Ok(done.jobs as u64)
}

/// `/admin/messenger/sent-messages`.
#[component]
pub fn SentMessagesPage() -> impl IntoView {
    let ToolbarCalendar(scope) = expect_context::<ToolbarCalendar>();
    let from = RwSignal::new(String::new());
    let until = RwSignal::new(String::new());
    let sender = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let list = Resource::new(
        move || {
            (
                scope.get(),
                from.get(),
                until.get(),
                sender.get(),
                reason.get(),
            )
        },
        |(c, f, u, s, r)| sent_messages(c, f, u, s, r),
    );
    let senders = RwSignal::new(Vec::<(String, String)>::new());
    view! {
        <h1>"Sent Messages"</h1>
        <p><a class="button primary" href="/admin/messenger/compose">"Compose Message"</a></p>
        <div class="report-filters" role="search" aria-label="Filter messages">
            <label>"From" <input type="date" prop:value=move || from.get() on:change=move |ev| from.set(event_target_value(&ev)) /></label>
            <label>"To" <input type="date" prop:value=move || until.get() on:change=move |ev| until.set(event_target_value(&ev)) /></label>
            <label>"Sender"
                <select prop:value=move || sender.get() on:change=move |ev| sender.set(event_target_value(&ev))>
                    <option value="">"Everyone"</option>
                    {move || senders.get().into_iter().map(|(e, n)| view! { <option value=e>{n}</option> }).collect_view()}
                </select>
            </label>
            <label>"Type"
                <select prop:value=move || reason.get() on:change=move |ev| reason.set(event_target_value(&ev))>
                    <option value="">"All types"</option>
                    {crate::choices::REASONS.into_iter().map(|(v, l)| view! { <option value=v>{l}</option> }).collect_view()}
                </select>
            </label>
        </div>
        <LoadedTransition resource=list let:l>
            {
                if senders.get_untracked() != l.senders {
                    senders.set(l.senders.clone());
                }
                if l.rows.is_empty() {
                    view! { <p class="muted">"No messages match in this calendar."</p> }.into_any()
                } else {
                    view! {
                        <table class="grid" data-testid="sent-messages">
                            <thead><tr><th>"Delivery"</th><th>"Subject"</th><th>"Type"</th><th>"Sender"</th><th>"Devices"</th><th>"Status"</th><th>"Sent"</th><th>"Failed"</th></tr></thead>
                            <tbody>
                                {l.rows.into_iter().map(|r| view! {
                                    <tr>
                                        <td class="nowrap">{r.delivery}</td>
                                        <td><a href=format!("/admin/messenger/messages/{}", r.id)>{r.subject}</a></td>
                                        <td>{r.reason}</td><td>{r.sender}</td><td>{r.devices}</td><td>{r.state}</td>
                                        <td>{format!("{} of {}", r.sent, r.total)}</td><td>{r.failed}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        {l.truncated.then(|| view! { <p class="hint">{format!("Showing the newest {LIST_LIMIT}; choose dates to see older messages.")}</p> })}
                    }.into_any()
                }
            }
        </LoadedTransition>
    }
}

/// `/admin/messenger/messages/:id`.
#[component]
pub fn MessagePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || url_id(&params.read().get("id").unwrap_or_default());
    let refresh = RwSignal::new(0u32);
    let view_res = Resource::new(
        move || (id(), refresh.get()),
        |(id, _)| async move { load_message_view(id?).await },
    );
    let cancel = Action::new(|id: &Uuid| cancel_message(*id));
    Effect::new(move |_| {
        if cancel.value().get().is_some() {
            refresh.update(|n| *n += 1);
        }
    });
    // While the message is scheduled or sending, refresh every two seconds; then stop.
    crate::poll::refresh_while(std::time::Duration::from_secs(2), refresh, move || {
        view_res.with_untracked(|v| !matches!(v, Some(Ok(m)) if !m.under_way))
    });
    view! {
        <LoadedTransition resource=view_res let:m>
            <h1>{m.subject.clone()}{m.is_test.then_some(" (test)")}</h1>
            <Facts m=m.clone() />
            <p><a class="button primary" href=format!("/admin/messenger/messages/{}/report", m.id)>"View Delivery Report"</a></p>
            {m.under_way.then(|| view! {
                <button type="button" class="danger" on:click=move |_| { cancel.dispatch(m.id); }>"Cancel queued deliveries"</button>
            })}
            {move || cancel.value().get().map(|r| match r {
                Ok(n) => view! { <p class="ok" role="status">{format!("Canceled {n} queued deliveries.")}</p> }.into_any(),
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
            })}
            <Tally devices=m.devices.clone() />
            {m.workers_warning.clone().map(|w| view! { <p class="notice" data-testid="workers-silent">{w}</p> })}
            {m.phone_note.clone().map(|n| view! { <p class="notice" data-testid="phone-note">{n}</p> })}
            {(!m.unreached.is_empty()).then(|| view! { <NotReached unreached=m.unreached.clone() people=m.unreached_people.clone() /> })}
            {(!m.troubles.is_empty()).then(|| view! { <Failures troubles=m.troubles.clone() /> })}
        </LoadedTransition>
    }
}

/// The message's facts: status, type, sender, when, devices, recipients.
#[component]
fn Facts(m: MessageView) -> impl IntoView {
    view! {
        <dl class="facts">
            <div><dt>"Status"</dt><dd data-testid="message-state">{m.state}</dd></div>
            <div><dt>"Type"</dt><dd>{m.reason}</dd></div>
            <div><dt>"Sender"</dt><dd>{m.sender}</dd></div>
            <div><dt>"Created"</dt><dd>{m.created}</dd></div>
            <div><dt>"Delivery starts"</dt><dd>{m.start}</dd></div>
            {m.finished.map(|f| view! { <div><dt>"Finished"</dt><dd>{f}</dd></div> })}
            <div><dt>"Devices"</dt><dd>{m.chosen_devices}</dd></div>
            <div><dt>"Recipients"</dt><dd>{m.recipients}</dd></div>
        </dl>
    }
}

/// Per device: sent, failed, canceled and still in the queue.
#[component]
fn Tally(devices: Vec<DeviceLine>) -> impl IntoView {
    let none = devices.is_empty();
    view! {
        <h2>"Delivery"</h2>
        <table class="grid" data-testid="tally">
            <thead><tr><th>"Device"</th><th>"Total"</th><th>"Sent"</th><th>"Failed"</th><th>"Canceled"</th><th>"In queue"</th></tr></thead>
            <tbody>
                {devices.into_iter().map(|d| view! {
                    <tr><td>{d.device}</td><td>{d.total}</td><td>{d.sent}</td><td>{d.failed}</td><td>{d.canceled}</td><td>{d.pending}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
        {none.then(|| view! { <p class="muted">"Not fanned out yet: delivery has not started."</p> })}
    }
}

/// How many were not reached on each device and why, and who.
#[component]
fn NotReached(unreached: Vec<UnreachedLine>, people: Vec<UnreachedPerson>) -> impl IntoView {
    view! {
        <h2>"Not reached"</h2>
        <ul>{unreached.into_iter().map(|u| view! { <li>{format!("{}: {} — {}", u.device, u.people, u.cause)}</li> }).collect_view()}</ul>
        <details>
            <summary>"Who"</summary>
            <table class="grid"><tbody>
                {people.into_iter().map(|p| view! { <tr><td>{p.name}</td><td>{p.device}</td><td>{p.cause}</td></tr> }).collect_view()}
            </tbody></table>
        </details>
    }
}

/// Jobs that failed or wait to retry, with the server's words.
#[component]
fn Failures(troubles: Vec<Trouble>) -> impl IntoView {
    view! {
        <h2>"Failures"</h2>
        <table class="grid"><thead><tr><th>"Device"</th><th>"To"</th><th>"State"</th><th>"Attempts"</th><th>"Server said"</th></tr></thead><tbody>
            {troubles.into_iter().map(|t| view! {
                <tr><td>{t.device}</td><td>{t.to}</td><td>{if t.retrying { "Retrying" } else { "Failed" }}</td><td>{t.attempts}</td><td>{t.said}</td></tr>
            }).collect_view()}
        </tbody></table>
    }
}
