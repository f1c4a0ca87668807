//! Dialer Activity (Messenger → Reports → Dialer Activity): choose a date (today by default),
//! all messages or active ones only, and the senders; **Generate Report** opens the report in a
//! new window: the toolbar calendar's messages of that day with a short summary each, where the
//! admin can cancel the jobs of selected messages or of every active one, after confirming.
//! Every cancel is recorded and the newest are listed under the report.
//!
//! What must stay true: only district admins see or cancel; a cancel goes through
//! `herald_core::messaging::cancel::cancel` (one transaction, recorded, race-safe against
//! running workers); "Cancel All Active Jobs" cancels what the report shows as active when it
//! is confirmed, recomputed on the server.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::admin::ToolbarCalendar;
use crate::error::AppError;
use crate::ui::{Loaded, LoadedTransition, TableWrap, toggle};

/// The wizard's choices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityForm {
    /// Today in the district's time zone, `YYYY-MM-DD`.
    pub today: String,
    /// (email, name) of everyone who has sent in the calendar.
    pub senders: Vec<(String, String)>,
    /// A calendar is chosen in the toolbar.
    pub calendar: bool,
}

#[server(endpoint = "dialer_activity_form")]
pub async fn dialer_activity_form(calendar_id: Option<String>) -> Result<ActivityForm, AppError> {
    let state = crate::auth::ssr::admin().await?.0.state;
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let calendar = calendar_id.and_then(|c| c.parse().ok());
    let senders = match calendar {
        Some(calendar) => {
            herald_core::messaging::sent_messages::senders(&state.pool, calendar).await?
        }
        None => Vec::new(),
    };
    Ok(ActivityForm {
        calendar: calendar.is_some(),
        today: chrono::Utc::now()
            .with_timezone(&tz)
            .format("%Y-%m-%d")
            .to_string(),
        senders,
    })
}

/// One message of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityLine {
    pub id: Uuid,
    pub time: String,
    pub subject: String,
    pub reason: String,
    pub sender: String,
    pub state: String,
    pub active: bool,
    /// "Email: 40 of 90 sent, 2 failed · Phone: 3 of 10 sent, 7 to go".
    pub summary: String,
}

/// One recorded cancel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationLine {
    pub when: String,
    pub by: String,
    pub action: String,
    pub messages: usize,
    pub jobs: i64,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityReport {
    pub day: String,
    pub rows: Vec<ActivityLine>,
    pub cancellations: Vec<CancellationLine>,
    /// Said when some listed message is active and no worker is running.
    pub workers_warning: Option<String>,
}

#[cfg(feature = "ssr")]
mod ssr {
    use herald_core::messaging::dialer_activity::{ActivityQuery, ActivityRow};

    use crate::error::AppError;

    /// The report's query: the calendar, the day in the district's time zone, active or all,
    /// the senders (comma-separated emails; empty: everyone).
    pub fn query(
        calendar_id: Option<String>,
        date: &str,
        active_only: bool,
        users: &str,
        tz: chrono_tz::Tz,
    ) -> Result<ActivityQuery, AppError> {
        use crate::present::ssr::day_start;
        let calendar = calendar_id.and_then(|c| c.parse().ok()).ok_or_else(|| {
            AppError::Invalid("Choose a school and calendar in the toolbar.".into())
        })?;
        let from = day_start("Date", date, tz, 0)?
            .ok_or_else(|| AppError::Invalid("Date: choose the day to report on.".into()))?;
        let until = day_start("Date", date, tz, 1)?.unwrap_or(from);
        Ok(ActivityQuery {
            calendar,
            from,
            until,
            active_only,
            senders: users
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(String::from)
                .collect(),
        })
    }

    /// "Email: 40 of 90 sent, 2 failed · Phone: 3 of 10 sent, 7 to go", or "Email, Phone: not
    /// started" before fan-out.
    pub fn summary(r: &ActivityRow) -> String {
        if r.tallies.is_empty() {
            let devices: Vec<&str> = r.devices.iter().map(|d| d.label()).collect();
            return format!("{}: not started", devices.join(", "));
        }
        r.tallies
            .iter()
            .map(|t| {
                let mut s = format!("{}: {} of {} sent", t.device.label(), t.sent, t.total);
                if t.failed > 0 {
                    s.push_str(&format!(", {} failed", t.failed));
                }
                if t.canceled > 0 {
                    s.push_str(&format!(", {} canceled", t.canceled));
                }
                if t.pending() > 0 {
                    s.push_str(&format!(", {} to go", t.pending()));
                }
                s
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

#[server(endpoint = "dialer_activity")]
pub async fn dialer_activity(
    calendar_id: Option<String>,
    date: String,
    active_only: bool,
    users: String,
) -> Result<ActivityReport, AppError> {
    use herald_core::messaging::{cancel, dialer_activity};
    let state = crate::auth::ssr::admin().await?.0.state;
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    use crate::format::{long_day, time_of_day, when};
    let q = ssr::query(calendar_id, &date, active_only, &users, tz)?;
    let rows = dialer_activity::list(&state.pool, &q).await?;
    let workers_warning =
        crate::present::ssr::workers_warning(&state, rows.iter().any(|r| r.active())).await?;
    Ok(ActivityReport {
        workers_warning,
        day: long_day(q.from, tz),
        rows: rows
            .into_iter()
            .map(|r| ActivityLine {
                id: r.id.0,
                time: time_of_day(r.start_at, tz),
                active: r.active(),
                summary: ssr::summary(&r),
                subject: r.subject,
                reason: r.reason.label().into(),
                sender: r.sender_name,
                state: r.state.label().into(),
            })
            .collect(),
        cancellations: cancel::recent_cancellations(&state.pool, 10)
            .await?
            .into_iter()
            .map(|c| CancellationLine {
                when: when(c.at, tz),
                by: c.by,
                action: c.scope.label().into(),
                messages: c.messages.len(),
                jobs: c.jobs,
            })
            .collect(),
    })
}

/// What a cancel did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelOutcome {
    pub messages: usize,
    pub jobs: i64,
}

/// Cancels the jobs of the `selected` messages (comma-separated ids), or with `all`, of every
/// message the report shows as active.
#[server(endpoint = "cancel_activity")]
pub async fn cancel_activity(
    calendar_id: Option<String>,
    date: String,
    active_only: bool,
    users: String,
    selected: String,
    all: bool,
) -> Result<CancelOutcome, AppError> {
    use herald_core::domain::MessageId;
    use herald_core::messaging::cancel::{self, CancelScope, Canceler};
    use herald_core::messaging::dialer_activity;
    let crate::auth::ssr::Caller { state, session, .. } = crate::auth::ssr::admin().await?.0;
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let q = ssr::query(calendar_id, &date, active_only, &users, tz)?;
    let (scope, ids): (CancelScope, Vec<MessageId>) = if all {
        let rows = dialer_activity::list(&state.pool, &q).await?;
        (
            CancelScope::AllActive,
            rows.into_iter()
                .filter(|r| r.active())
                .map(|r| r.id)
                .collect(),
        )
    } else {
        let ids = selected
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| AppError::NotFound))
            .collect::<Result<Vec<MessageId>, _>>()?;
        if ids.is_empty() {
            return Err(AppError::Invalid(
                "Select the messages whose jobs to cancel.".into(),
            ));
        }
        (CancelScope::Selected, ids)
    };
    let by = Canceler {
        account: session.account.id,
        email: session.account.email.clone(),
    };
    let done = cancel::cancel(&state.pool, &by, scope, &ids).await?;
    tracing::info!(by = %by.email, scope = scope.label(), messages = done.messages.len(), jobs = done.jobs, "jobs canceled");
    Ok(CancelOutcome {
        messages: done.messages.len(),
        jobs: done.jobs,
    })
}

/// `/admin/messenger/reports/dialer-activity`: the wizard.
#[component]
pub fn DialerActivityPage() -> impl IntoView {
    let ToolbarCalendar(scope) = expect_context::<ToolbarCalendar>();
    let form = Resource::new(move || scope.get(), dialer_activity_form);
    view! {
        <h1>"Dialer Activity"</h1>
        <p class="hint">"Lists the messages of the toolbar's calendar for one day, with a summary of each. Messages still being sent can be canceled from the report."</p>
        <Loaded resource=form let:f>
            {if f.calendar {
                view! { <Wizard form=f /> }.into_any()
            } else {
                view! { <p class="notice">"Choose a school and calendar in the toolbar first."</p> }.into_any()
            }}
        </Loaded>
    }
}

#[component]
fn Wizard(form: ActivityForm) -> impl IntoView {
    let date = RwSignal::new(form.today.clone());
    let active = RwSignal::new(false);
    let chosen = RwSignal::new(
        form.senders
            .iter()
            .map(|(e, _)| e.clone())
            .collect::<Vec<_>>(),
    );
    let everyone = form.senders.len();
    let href = move || {
        let users = chosen.get();
        format!(
            "/admin/messenger/reports/dialer-activity/view?date={}&active={}&users={}",
            date.get(),
            if active.get() { "1" } else { "0" },
            // Everyone chosen: no filter, so senders who send later still show.
            if users.len() == everyone {
                String::new()
            } else {
                crate::format::query_value(&users.join(","))
            }
        )
    };
    view! {
        <div class="prefs">
            <fieldset>
                <legend>"Report"</legend>
                <label>"Date" <input type="date" prop:value=move || date.get() on:change=move |ev| date.set(event_target_value(&ev)) /></label>
                <div role="radiogroup" aria-label="Messages">
                    <label class="inline"><input type="radio" name="which" prop:checked=move || !active.get() on:change=move |_| active.set(false) />" All Messages"</label>
                    <label class="inline"><input type="radio" name="which" prop:checked=move || active.get() on:change=move |_| active.set(true) />" Active Messages Only"</label>
                </div>
            </fieldset>
            <fieldset>
                <legend>"Users"</legend>
                {if form.senders.is_empty() {
                    view! { <p class="muted">"Nobody has sent a message in this calendar yet."</p> }.into_any()
                } else {
                    form.senders.iter().map(|(e, n)| {
                        let (e1, e2) = (e.clone(), e.clone());
                        view! {
                            <label class="inline">
                                <input type="checkbox" prop:checked=move || chosen.with(|c| c.contains(&e1))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        let e = e2.clone();
                                        chosen.update(|c| toggle(c, e, on));
                                    } />
                                {format!(" {n}")}
                            </label>
                        }
                    }).collect_view().into_any()
                }}
            </fieldset>
            <p>
                <a class="button primary" href=href target="_blank" rel="noopener"
                    aria-disabled=move || (everyone > 0 && chosen.with(|c| c.is_empty())).then_some("true")>
                    "Generate Report"<span class="visually-hidden">" (opens in a new window)"</span>
                </a>
            </p>
        </div>
    }
}

/// What the confirmation asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asking {
    Selected,
    AllActive,
}

/// `/admin/messenger/reports/dialer-activity/view`: the report, opened in a new window.
#[component]
pub fn DialerActivityReport() -> impl IntoView {
    let ToolbarCalendar(scope) = expect_context::<ToolbarCalendar>();
    let query = use_query_map();
    let date = move || query.with(|q| q.get("date").unwrap_or_default());
    let active_only = move || query.with(|q| q.get("active").as_deref() == Some("1"));
    let users = move || query.with(|q| q.get("users").unwrap_or_default());
    let refresh = RwSignal::new(0u32);
    let report = Resource::new(
        move || (scope.get(), date(), active_only(), users(), refresh.get()),
        |(c, d, a, u, _)| dialer_activity(c, d, a, u),
    );
    let selected = RwSignal::new(Vec::<Uuid>::new());
    let cancel = Action::new(move |all: &bool| {
        let all = *all;
        let ids = selected
            .with_untracked(|s| s.iter().map(Uuid::to_string).collect::<Vec<_>>().join(","));
        let (c, d, a, u) = (scope.get_untracked(), date(), active_only(), users());
        async move { cancel_activity(c, d, a, u, ids, all).await }
    });
    Effect::new(move |_| {
        if cancel
            .value()
            .with(|v| v.as_ref().is_some_and(Result::is_ok))
        {
            selected.set(Vec::new());
            refresh.update(|n| *n += 1);
        }
    });
    view! {
        <LoadedTransition resource=report let:r>
            <h1>"Dialer Activity: " {r.day.clone()}</h1>
            <p class="muted">{if active_only() { "Active Messages Only" } else { "All Messages" }}</p>
            {r.workers_warning.clone().map(|w| view! { <p class="notice" data-testid="workers-silent">{w}</p> })}
            <ActivityTable rows=r.rows.clone() selected />
            {r.rows.iter().any(|l| l.active).then(|| view! { <CancelBar selected cancel /> })}
            <div role="status" data-testid="cancel-outcome">
                // Inside this status region, not an alert: the outcome, good or bad, is announced
                // politely where the buttons are.
                {move || cancel.value().get().map(|v| match v {
                    Ok(o) => view! { <p class="ok">{format!("Canceled {} jobs of {} {}.", o.jobs, o.messages, if o.messages == 1 { "message" } else { "messages" })}</p> }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                })}
            </div>
            <RecentCancellations cancellations=r.cancellations.clone() />
        </LoadedTransition>
    }
}

/// The day's messages; an active one has a box to select it for canceling.
#[component]
fn ActivityTable(rows: Vec<ActivityLine>, selected: RwSignal<Vec<Uuid>>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted" data-testid="activity-empty">"No messages match."</p> }
            .into_any();
    }
    view! {
        <TableWrap label="Calls">
        <table class="grid" data-testid="activity">
            <thead><tr>
                <th scope="col"><span class="visually-hidden">"Select"</span></th>
                <th scope="col">"Time"</th><th scope="col">"Subject"</th><th scope="col">"Type"</th>
                <th scope="col">"Sender"</th><th scope="col">"Status"</th><th scope="col">"Summary"</th>
            </tr></thead>
            <tbody>
                {rows.into_iter().map(|l| {
                    let id = l.id;
                    let label = format!("Select {}", l.subject);
                    view! {
                        <tr>
                            <td>{l.active.then(|| view! {
                                <input type="checkbox" aria-label=label
                                    prop:checked=move || selected.with(|s| s.contains(&id))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        selected.update(|s| toggle(s, id, on));
                                    } />
                            })}</td>
                            <td class="nowrap">{l.time}</td>
                            <td><a href=format!("/admin/messenger/messages/{}", l.id)>{l.subject}</a></td>
                            <td>{l.reason}</td><td>{l.sender}</td><td>{l.state}</td><td>{l.summary}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </TableWrap>
    }
    .into_any()
}

/// "Cancel Selected Jobs" and "Cancel All Active Jobs", each asking first.
#[component]
fn CancelBar(
    selected: RwSignal<Vec<Uuid>>,
    cancel: Action<bool, Result<CancelOutcome, AppError>>,
) -> impl IntoView {
    let asking = RwSignal::new(None::<Asking>);
    view! {
        <div class="actions">
            <button type="button" class="secondary"
                disabled=move || selected.with(|s| s.is_empty()) || cancel.pending().get()
                on:click=move |_| asking.set(Some(Asking::Selected))>"Cancel Selected Jobs"</button>
            <button type="button" class="danger" disabled=move || cancel.pending().get()
                on:click=move |_| asking.set(Some(Asking::AllActive))>"Cancel All Active Jobs"</button>
        </div>
        <Confirm asking selected cancel />
    }
}

/// The newest recorded cancels: when, who, what, how many.
#[component]
fn RecentCancellations(cancellations: Vec<CancellationLine>) -> impl IntoView {
    view! {
        <h2>"Recent cancellations"</h2>
        {if cancellations.is_empty() {
            view! { <p class="muted">"None yet."</p> }.into_any()
        } else {
            view! {
                <table class="grid" data-testid="cancellations">
                    <thead><tr><th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"Action"</th><th scope="col">"Messages"</th><th scope="col">"Jobs canceled"</th></tr></thead>
                    <tbody>
                        {cancellations.into_iter().map(|c| view! {
                            <tr><td class="nowrap">{c.when}</td><td>{c.by}</td><td>{c.action}</td><td>{c.messages}</td><td>{c.jobs}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
    }
}

/// "Cancel the queued jobs of …? Yes / No", before anything is canceled.
#[component]
fn Confirm(
    asking: RwSignal<Option<Asking>>,
    selected: RwSignal<Vec<Uuid>>,
    cancel: Action<bool, Result<CancelOutcome, AppError>>,
) -> impl IntoView {
    move || {
        asking.get().map(|a| {
            let question = match a {
                Asking::Selected => {
                    let n = selected.with(Vec::len);
                    format!(
                        "Cancel the jobs not yet delivered of {n} selected {}?",
                        if n == 1 { "message" } else { "messages" }
                    )
                }
                Asking::AllActive => {
                    "Cancel the jobs not yet delivered of every active message in this report?"
                        .to_string()
                }
            };
            view! {
                <div class="notice confirm" role="alertdialog" aria-label="Confirm cancel">
                    <p>{question}" Jobs a worker is delivering right now will finish."</p>
                    <div class="actions">
                        <button type="button" class="danger" on:click=move |_| {
                            asking.set(None);
                            cancel.dispatch(a == Asking::AllActive);
                        }>"Yes, cancel the jobs"</button>
                        <button type="button" class="secondary" on:click=move |_| asking.set(None)>"No, keep them"</button>
                    </div>
                </div>
            }
        })
    }
}
