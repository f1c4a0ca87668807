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

use crate::admin::ToolbarCalendar;
use crate::error::AppError;
use crate::ui::{ErrorAlert, LoadedTransition};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageLine {
    pub id: String,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: String,
    pub subject: String,
    pub reason: String,
    pub sender: String,
    pub created: String,
    pub start: String,
    pub finished: Option<String>,
    pub state: String,
    pub is_test: bool,
    pub recipients: i64,
    /// The devices chosen, as words ("Email, Portal inbox").
    pub chosen_devices: String,
    pub devices: Vec<DeviceLine>,
    /// Said when the message is under way and no worker is running.
    pub workers_warning: Option<String>,
    /// (device, cause, people)
    pub unreached: Vec<(String, String, i64)>,
    /// (name, device, cause)
    pub unreached_people: Vec<(String, String, String)>,
    /// (device, target, retrying, attempts, error)
    pub troubles: Vec<(String, String, bool, i32, String)>,
    /// Where calls not yet done stand, in words (none when every call is done).
    pub phone_note: Option<String>,
}

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use chrono::{DateTime, Utc};

    /// Midnight at the start of `date` plus `days`, in the district's time zone; none for an
    /// empty field. `field` names the field in the error.
    pub fn day_start(
        field: &str,
        date: &str,
        tz: chrono_tz::Tz,
        days: u64,
    ) -> Result<Option<DateTime<Utc>>, crate::error::AppError> {
        let date = date.trim();
        if date.is_empty() {
            return Ok(None);
        }
        let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.checked_add_days(chrono::Days::new(days)))
            .ok_or_else(|| {
                crate::error::AppError::Invalid(format!("{field}: '{date}' is not a date."))
            })?;
        Ok(Some(herald_core::directory::day_start(tz, day)))
    }

    pub fn when(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
        t.with_timezone(&tz)
            .format("%b %-d, %Y %-I:%M %p")
            .to_string()
    }

    /// For a message still under way: a warning when no worker is running, since then nothing
    /// is delivered (the seed's "queued for more than a few minutes: the service is not
    /// running", said before anyone has to guess).
    pub async fn workers_warning(
        state: &crate::state::AppState,
        under_way: bool,
    ) -> Result<Option<String>, crate::error::AppError> {
        use herald_core::heartbeat::{self, Workers};
        if !under_way {
            return Ok(None);
        }
        let since = match heartbeat::status(&state.pool).await? {
            Workers::Running(_) => return Ok(None),
            Workers::Silent { last_seen: None } => String::new(),
            Workers::Silent { last_seen: Some(t) } => {
                let tz = herald_core::directory::time_zone(&state.pool).await?;
                format!(" since {}", when(t, tz))
            }
        };
        Ok(Some(format!(
            "No Herald worker has checked in{since}, so nothing is being delivered: deliveries wait until one runs (herald-worker run). Ask whoever runs Herald to start it."
        )))
    }

    /// Calls with the provider, and calls waiting and why: the dialer not set up, or the next
    /// opening of the dial window (or a retry).
    pub async fn phone_note(
        state: &crate::state::AppState,
        id: herald_core::domain::MessageId,
        tz: chrono_tz::Tz,
    ) -> Result<Option<String>, crate::error::AppError> {
        use herald_core::dialer::preferences::{self, DialerPreferencesError};
        let p = herald_core::messaging::sent_messages::phone_progress(&state.pool, id).await?;
        let mut parts = Vec::new();
        if p.calling > 0 {
            parts.push(format!("{} with the provider now", p.calling));
        }
        match preferences::config(&state.pool, &state.settings.dialer).await {
            Err(DialerPreferencesError::NotConfigured(missing)) if p.due + p.waiting > 0 => {
                parts.push(format!(
                    "{} waiting: the dialer is not set up ({} missing on Dialer Preferences)",
                    p.due + p.waiting,
                    missing.join(", ")
                ));
            }
            _ => {
                if p.due > 0 {
                    parts.push(format!("{} being placed", p.due));
                }
                if let (true, Some(next)) = (p.waiting > 0, p.next_at) {
                    parts.push(format!(
                        "{} waiting for the dial window or a retry; the next at {}",
                        p.waiting,
                        when(next, tz)
                    ));
                }
            }
        }
        Ok((!parts.is_empty()).then(|| format!("Calls: {}.", parts.join("; "))))
    }

    pub fn cause(c: &str) -> String {
        match c {
            "no_email" => "No email address on file",
            "no_phone" => "No phone number on file",
            "opted_out" => "Opted out of this message type",
            "not_emergency_contact" => "No method marked for emergencies",
            other => other,
        }
        .to_string()
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
            from: ssr::day_start("From", &from, tz, 0)?,
            until: ssr::day_start("To", &until, tz, 1)?,
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
                id: r.id.to_string(),
                subject: r.subject,
                reason: r.reason.label().into(),
                sender: r.sender_name,
                delivery: ssr::when(r.start_at, tz),
                state: r.state.label().into(),
                devices: r
                    .devices
                    .iter()
                    .map(|d| d.label())
                    .collect::<Vec<_>>()
                    .join(", "),
                total: r.total,
                sent: r.sent,
                failed: r.failed,
            })
            .collect(),
    })
}

#[server(endpoint = "load_message_view")]
pub async fn load_message_view(id: String) -> Result<MessageView, AppError> {
    use herald_core::messaging::sent_messages;
    let state = crate::auth::ssr::admin().await?.0.state;
    let id = id.parse().map_err(|_| AppError::NotFound)?;
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let s = sent_messages::status(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let unreached_people = sent_messages::unreached_people(&state.pool, id, 100).await?;
    let troubles = sent_messages::troubled_jobs(&state.pool, id, 100).await?;
    let phone_pending = s
        .tallies
        .iter()
        .any(|t| t.device == herald_core::domain::Device::Phone && t.pending() > 0);
    let phone_note = if phone_pending {
        ssr::phone_note(&state, id, tz).await?
    } else {
        None
    };
    let workers_warning = ssr::workers_warning(&state, under_way(s.state.label())).await?;
    Ok(MessageView {
        phone_note,
        workers_warning,
        id: s.id.to_string(),
        subject: s.subject,
        reason: s.reason.label().into(),
        sender: s.sender_name,
        created: ssr::when(s.created_at, tz),
        start: ssr::when(s.start_at, tz),
        finished: s.finished_at.map(|t| ssr::when(t, tz)),
        state: s.state.label().into(),
        is_test: s.is_test,
        recipients: s.recipients,
        chosen_devices: s
            .devices
            .iter()
            .map(|d| d.label())
            .collect::<Vec<_>>()
            .join(", "),
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
        unreached: s
            .unreached
            .into_iter()
            .map(|u| (u.device.label().to_string(), ssr::cause(&u.cause), u.people))
            .collect(),
        unreached_people: unreached_people
            .into_iter()
            .map(|u| (u.name, u.device.label().to_string(), ssr::cause(&u.cause)))
            .collect(),
        troubles: troubles
            .into_iter()
            .map(|t| {
                (
                    t.device.label().to_string(),
                    t.target,
                    t.retrying,
                    t.attempts,
                    t.last_error,
                )
            })
            .collect(),
    })
}

/// Cancels what is still queued, on record; returns how many jobs were canceled.
#[server(endpoint = "cancel_message")]
pub async fn cancel_message(id: String) -> Result<u64, AppError> {
    use herald_core::messaging::cancel::{self, CancelScope, Canceler};
    let crate::auth::ssr::Caller { state, session, .. } = crate::auth::ssr::admin().await?.0;
    let id = id.parse().map_err(|_| AppError::NotFound)?;
    let by = Canceler {
        account: session.account.id,
        email: session.account.email.clone(),
    };
    let done = cancel::cancel(&state.pool, &by, CancelScope::Message, &[id]).await?;
    tracing::info!(message = %id, by = %by.email, jobs = done.jobs, "message canceled");
    Ok(done.jobs as u64)
}

/// A message in this state is still changing: its pages refresh themselves.
pub fn under_way(state: &str) -> bool {
    state == "Sending" || state == "Scheduled"
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
    let id = move || params.read().get("id").unwrap_or_default();
    let refresh = RwSignal::new(0u32);
    let view_res = Resource::new(
        move || (id(), refresh.get()),
        |(id, _)| load_message_view(id),
    );
    let cancel = Action::new(|id: &String| cancel_message(id.clone()));
    Effect::new(move |_| {
        if cancel.value().get().is_some() {
            refresh.update(|n| *n += 1);
        }
    });
    // While the message is scheduled or sending, refresh every two seconds; then stop.
    crate::poll::refresh_while(std::time::Duration::from_secs(2), refresh, move || {
        view_res.with_untracked(|v| !matches!(v, Some(Ok(m)) if !under_way(&m.state)))
    });
    view! {
        <LoadedTransition resource=view_res let:m>
            {
                let active = under_way(&m.state);
                let mid = m.id.clone();
                view! {
                    <h1>{m.subject.clone()}{m.is_test.then_some(" (test)")}</h1>
                    <dl class="facts">
                        <div><dt>"Status"</dt><dd data-testid="message-state">{m.state.clone()}</dd></div>
                        <div><dt>"Type"</dt><dd>{m.reason.clone()}</dd></div>
                        <div><dt>"Sender"</dt><dd>{m.sender.clone()}</dd></div>
                        <div><dt>"Created"</dt><dd>{m.created.clone()}</dd></div>
                        <div><dt>"Delivery starts"</dt><dd>{m.start.clone()}</dd></div>
                        {m.finished.clone().map(|f| view! { <div><dt>"Finished"</dt><dd>{f}</dd></div> })}
                        <div><dt>"Devices"</dt><dd>{m.chosen_devices.clone()}</dd></div>
                        <div><dt>"Recipients"</dt><dd>{m.recipients}</dd></div>
                    </dl>
                    <p><a class="button primary" href=format!("/admin/messenger/messages/{}/report", m.id)>"View Delivery Report"</a></p>
                    {active.then(|| view! {
                        <button type="button" class="danger" on:click=move |_| { cancel.dispatch(mid.clone()); }>"Cancel queued deliveries"</button>
                    })}
                    {move || cancel.value().get().map(|r| match r {
                        Ok(n) => view! { <p class="ok" role="status">{format!("Canceled {n} queued deliveries.")}</p> }.into_any(),
                        Err(error) => view! { <ErrorAlert error /> }.into_any(),
                    })}
                    <h2>"Delivery"</h2>
                    <table class="grid" data-testid="tally">
                        <thead><tr><th>"Device"</th><th>"Total"</th><th>"Sent"</th><th>"Failed"</th><th>"Canceled"</th><th>"In queue"</th></tr></thead>
                        <tbody>
                            {m.devices.iter().cloned().map(|d| view! {
                                <tr><td>{d.device}</td><td>{d.total}</td><td>{d.sent}</td><td>{d.failed}</td><td>{d.canceled}</td><td>{d.pending}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    {(m.devices.is_empty()).then(|| view! { <p class="muted">"Not fanned out yet: delivery has not started."</p> })}
                    {m.workers_warning.clone().map(|w| view! { <p class="notice" data-testid="workers-silent">{w}</p> })}
                    {m.phone_note.clone().map(|n| view! { <p class="notice" data-testid="phone-note">{n}</p> })}
                    {(!m.unreached.is_empty()).then(|| view! {
                        <h2>"Not reached"</h2>
                        <ul>{m.unreached.iter().map(|(d, c, n)| view! { <li>{format!("{d}: {n} — {c}")}</li> }).collect_view()}</ul>
                        <details>
                            <summary>"Who"</summary>
                            <table class="grid"><tbody>
                                {m.unreached_people.iter().cloned().map(|(n, d, c)| view! { <tr><td>{n}</td><td>{d}</td><td>{c}</td></tr> }).collect_view()}
                            </tbody></table>
                        </details>
                    })}
                    {(!m.troubles.is_empty()).then(|| view! {
                        <h2>"Failures"</h2>
                        <table class="grid"><thead><tr><th>"Device"</th><th>"To"</th><th>"State"</th><th>"Attempts"</th><th>"Server said"</th></tr></thead><tbody>
                            {m.troubles.iter().cloned().map(|(d, t, r, a, e)| view! {
                                <tr><td>{d}</td><td>{t}</td><td>{if r { "Retrying" } else { "Failed" }}</td><td>{a}</td><td>{e}</td></tr>
                            }).collect_view()}
                        </tbody></table>
                    })}
                }
            }
        </LoadedTransition>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::ssr::day_start;

    #[test]
    fn a_date_range_is_whole_days_in_the_districts_time_zone() {
        let tz = chrono_tz::America::Chicago;
        let from = day_start("From", "2026-11-23", tz, 0).unwrap().unwrap();
        assert_eq!(from.to_rfc3339(), "2026-11-23T06:00:00+00:00");
        let until = day_start("To", "2026-11-23", tz, 1).unwrap().unwrap();
        assert_eq!(until.to_rfc3339(), "2026-11-24T06:00:00+00:00");
        assert_eq!(day_start("From", " ", tz, 0).unwrap(), None);
        let e = day_start("To", "11/23/2026", tz, 1).unwrap_err();
        assert_eq!(e.to_string(), "To: '11/23/2026' is not a date.");
        // Midnight does not exist on a day that starts daylight saving at midnight (Havana).
        let havana = chrono_tz::America::Havana;
        assert!(
            day_start("From", "2026-03-08", havana, 0)
                .unwrap()
                .is_some()
        );
    }
}
