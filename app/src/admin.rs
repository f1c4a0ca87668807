//! The admin shell: the outline navigation (mirroring the product's Messenger outline), the
//! Campus Toolbar that scopes every tool to one school's calendar, and the overview page.
//!
//! What must stay true: the shell only renders for district admins and teachers; every tool's
//! server functions check the role again themselves (the shell is convenience, not security).

pub mod compose;
pub mod delivery_report;
pub mod dialer_activity;
pub mod dialer_prefs;
pub mod email_prefs;
pub mod import;
pub mod messages;
pub mod people;
pub mod prefs_form;
pub mod utilization;

use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use crate::auth::{SignOutButton, UiRole, UserInfo, current_user};
use crate::error::AppError;
use crate::ui::{Loaded, TableWrap};

/// A calendar as the toolbar lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarChoice {
    pub id: String,
    pub label: String,
}

/// The calendar chosen in the Campus Toolbar, shared with every tool through context.
#[derive(Debug, Clone, Copy)]
pub struct ToolbarCalendar(pub RwSignal<Option<String>>);

/// Every calendar, for the toolbar.
#[server(endpoint = "list_calendars")]
pub async fn list_calendars() -> Result<Vec<CalendarChoice>, AppError> {
    let state = crate::auth::ssr::staff().await?.0.state;
    let rows = herald_core::directory::calendars(&state.pool).await?;
    Ok(rows
        .into_iter()
        .map(|c| CalendarChoice {
            id: c.id.to_string(),
            label: format!("{} · {}", c.school_name, c.name),
        })
        .collect())
}

/// Remembers the toolbar's calendar for this session.
#[server(endpoint = "choose_calendar")]
pub async fn choose_calendar(calendar_id: String) -> Result<(), AppError> {
    use herald_core::accounts::{self};
    use herald_core::domain::CalendarId;
    let crate::auth::ssr::Caller { state, token, .. } = crate::auth::ssr::staff().await?.0;
    let id: CalendarId = calendar_id
        .parse()
        .map_err(|_| AppError::Invalid("That calendar id is not valid.".into()))?;
    if !herald_core::directory::calendar_exists(&state.pool, id).await? {
        return Err(AppError::NotFound);
    }
    accounts::set_session_calendar(&state.pool, &token, id)
        .await
        .map_err(|e| AppError::internal("choose calendar", &e))
}

/// Head counts for the overview page, in the chosen calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headcounts {
    pub schools: i64,
    pub students: i64,
    pub guardians: i64,
    pub staff: i64,
    pub calendar_students: Option<i64>,
}

#[server(endpoint = "load_headcounts")]
pub async fn load_headcounts(calendar_id: Option<String>) -> Result<Headcounts, AppError> {
    let state = crate::auth::ssr::staff().await?.0.state;
    let calendar = calendar_id.and_then(|c| c.parse().ok());
    let c = herald_core::directory::counts(&state.pool, calendar).await?;
    Ok(Headcounts {
        schools: c.schools,
        students: c.students,
        guardians: c.guardians,
        staff: c.staff,
        calendar_students: c.calendar_students,
    })
}

/// One delivery worker, as the Overview lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerLine {
    pub host: String,
    pub pid: i32,
    pub since: String,
    pub seen: String,
    pub state: WorkerState,
}

/// Whether a delivery worker delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkerState {
    /// Checked in lately, every lane alive.
    Running,
    /// Stopped checking in without checking out (killed, or its host went away).
    Silent,
    /// Stopped because a lane was stuck; why.
    Stuck(String),
}

impl WorkerState {
    /// The Overview's words for it.
    pub fn describe(&self) -> String {
        match self {
            Self::Running => "Running".into(),
            Self::Silent => "Silent: stopped without checking out".into(),
            Self::Stuck(why) => format!("Stuck: {why}; it exited for its supervisor to restart it"),
        }
    }
}

/// The delivery workers on record: running ones, and those silent within the last day.
#[server(endpoint = "delivery_workers")]
pub async fn delivery_workers() -> Result<Vec<WorkerLine>, AppError> {
    let state = crate::auth::ssr::admin().await?.0.state;
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let when = |t| crate::format::when(t, tz);
    Ok(herald_core::heartbeat::list(&state.pool)
        .await?
        .into_iter()
        .map(|w| WorkerLine {
            host: w.host,
            pid: w.pid,
            since: when(w.started_at),
            seen: when(w.seen_at),
            state: match (w.stuck, w.running) {
                (Some(why), _) => WorkerState::Stuck(why),
                (None, true) => WorkerState::Running,
                (None, false) => WorkerState::Silent,
            },
        })
        .collect())
}

/// The frame around every admin tool.
#[component]
pub fn AdminShell() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    // Not `Loaded`: who is signed in decides between the shell and a redirect, and with no shell
    // around it the loading line and the error are centered on the page.
    view! {
        <Suspense fallback=|| view! { <p class="centered">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(u)) if u.role != UiRole::Parent => view! { <Shell user=u /> }.into_any(),
                    Ok(Some(_)) => view! { <Redirect path="/portal" /> }.into_any(),
                    Ok(None) => view! { <Redirect path="/sign-in" /> }.into_any(),
                    Err(e) => view! { <p class="error centered" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Shell(user: UserInfo) -> impl IntoView {
    let scope = ToolbarCalendar(RwSignal::new(user.calendar_id.clone()));
    provide_context(scope);
    provide_context(user.role);
    view! {
        <div class="admin">
            <header class="topbar">
                <a class="brand" href="/admin">"Herald"</a>
                <CampusToolbar />
                <span class="who">{user.name.clone()} " · " {user.role.label()}</span>
                <SignOutButton />
            </header>
            <nav class="outline" aria-label="Tools">
                <OutlineNav />
            </nav>
            <main class="tool">
                <Outlet />
            </main>
        </div>
    }
}

/// The school / calendar selector that scopes every tool.
#[component]
fn CampusToolbar() -> impl IntoView {
    let ToolbarCalendar(scope) = expect_context::<ToolbarCalendar>();
    let calendars = Resource::new(|| (), |_| list_calendars());
    let choose = ServerAction::<ChooseCalendar>::new();
    view! {
        <label class="toolbar">
            <span>"Calendar"</span>
            <select
                aria-label="School and calendar"
                on:change=move |ev| {
                    let id = event_target_value(&ev);
                    scope.set(Some(id.clone()));
                    choose.dispatch(ChooseCalendar { calendar_id: id });
                }
            >
                <Suspense fallback=|| view! { <option>"Loading…"</option> }>
                    // Not `Loaded`: inside a <select> only options may appear; a failed list
                    // leaves the toolbar empty.
                    {move || Suspend::new(async move {
                        let list = calendars.await.unwrap_or_default();
                        if list.is_empty() {
                            return view! { <option value="">"No calendars yet: import a roster"</option> }.into_any();
                        }
                        let current = scope.get_untracked();
                        view! {
                            <option value="" disabled selected=current.is_none()>"Choose a school and calendar"</option>
                            {list.into_iter().map(|c| {
                                let selected = current.as_deref() == Some(c.id.as_str());
                                view! { <option value=c.id selected=selected>{c.label}</option> }
                            }).collect_view()}
                        }.into_any()
                    })}
                </Suspense>
            </select>
        </label>
    }
}

/// The outline, as in the product documents.
#[component]
fn OutlineNav() -> impl IntoView {
    view! {
        <ul>
            <li><A href="/admin" exact=true>"Overview"</A></li>
            <li><A href="/admin/people">"People"</A></li>
            <li>
                <span class="group">"Messenger"</span>
                <ul>
                    <li><A href="/admin/messenger/compose">"Compose Message"</A></li>
                    <li><A href="/admin/messenger/sent-messages">"Sent Messages"</A></li>
                    <li><A href="/admin/messenger/missing-assignment-scheduler">"Missing Assignment Scheduler"</A></li>
                    <li><A href="/admin/messenger/failing-assignment-scheduler">"Failing Assignment Scheduler"</A></li>
                    <li>
                        <span class="group">"Reports"</span>
                        <ul>
                            <li><A href="/admin/messenger/reports/dialer-activity">"Dialer Activity"</A></li>
                            <li><A href="/admin/messenger/reports/utilization">"Utilization"</A></li>
                        </ul>
                    </li>
                </ul>
            </li>
            <li>
                <span class="group">"Surveys"</span>
                <ul><li><A href="/admin/surveys/survey-messenger">"Survey Messenger"</A></li></ul>
            </li>
            <li><A href="/admin/contact-preferences-batch">"Contact Preferences Batch"</A></li>
            <li>
                <span class="group">"Preferences"</span>
                <ul>
                    <li><A href="/admin/preferences/email">"Email Preferences"</A></li>
                    <li><A href="/admin/preferences/dialer">"Dialer Preferences"</A></li>
                </ul>
            </li>
            <li><A href="/admin/roster-import">"Roster Import"</A></li>
        </ul>
    }
}

/// `/admin`: the district at a glance, in the chosen calendar.
#[component]
pub fn Overview() -> impl IntoView {
    let ToolbarCalendar(scope) = expect_context::<ToolbarCalendar>();
    let counts = Resource::new(move || scope.get(), load_headcounts);
    view! {
        <h1>"Overview"</h1>
        <Loaded resource=counts let:c>
            <dl class="stats">
                <div><dt>"Schools"</dt><dd>{c.schools}</dd></div>
                <div><dt>"Students"</dt><dd>{c.students}</dd></div>
                <div><dt>"Guardians"</dt><dd>{c.guardians}</dd></div>
                <div><dt>"Staff"</dt><dd>{c.staff}</dd></div>
                {c.calendar_students.map(|n| view! {
                    <div><dt>"Enrolled in this calendar"</dt><dd>{n}</dd></div>
                })}
            </dl>
            {(c.students == 0).then(|| view! {
                <p>"No roster yet. " <a href="/admin/roster-import">"Import a OneRoster file"</a> " to begin."</p>
            })}
        </Loaded>
        {(use_context::<UiRole>() == Some(UiRole::DistrictAdmin)).then(|| view! { <DeliveryWorkers /> })}
    }
}

/// The delivery workers, for a district admin: whether any is running, and where.
#[component]
fn DeliveryWorkers() -> impl IntoView {
    let workers = Resource::new(|| (), |_| delivery_workers());
    view! {
        <h2>"Delivery workers"</h2>
        <Loaded resource=workers let:list>
            {match list.iter().filter(|w| w.state == WorkerState::Running).count() {
                0 => view! {
                    <p class="notice" data-testid="workers-none">
                        "No Herald worker is running, so nothing is being delivered: messages wait in the queue until one starts (herald-worker run). Ask whoever runs Herald to start it."
                    </p>
                }.into_any(),
                1 => view! { <p data-testid="workers-running">"1 worker is running."</p> }.into_any(),
                n => view! { <p data-testid="workers-running">{format!("{n} workers are running.")}</p> }.into_any(),
            }}
            {(!list.is_empty()).then(|| view! {
                <TableWrap label="Workers">
                <table class="grid" data-testid="workers">
                    <thead><tr>
                        <th scope="col">"Host"</th><th scope="col">"Process"</th>
                        <th scope="col">"Up since"</th><th scope="col">"Last check-in"</th>
                        <th scope="col">"State"</th>
                    </tr></thead>
                    <tbody>
                        {list.into_iter().map(|w| view! {
                            <tr>
                                <td>{w.host}</td><td>{format!("pid {}", w.pid)}</td>
                                <td>{w.since}</td><td>{w.seen}</td>
                                <td>{w.state.describe()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                </TableWrap>
            })}
        </Loaded>
    }
}

/// A tool of the outline that a later release builds; says so plainly.
#[component]
pub fn NotBuiltYet() -> impl IntoView {
    let params = use_params_map();
    let tool = move || params.read().get("tool").unwrap_or_default();
    let name = move || {
        let t = tool();
        let (name, what) = match t.as_str() {
            "messenger/missing-assignment-scheduler" => {
                ("Missing Assignment Scheduler", "the grade-book schedulers")
            }
            "messenger/failing-assignment-scheduler" => {
                ("Failing Assignment Scheduler", "the grade-book schedulers")
            }
            "surveys/survey-messenger" => ("Survey Messenger", "surveys"),
            "contact-preferences-batch" => (
                "Contact Preferences Batch",
                "the contact preferences wizard",
            ),
            _ => ("This page", "a later release"),
        };
        (name, what)
    };
    view! {
        <h1>{move || name().0}</h1>
        <p class="not-built">
            {move || format!("{} is not built yet. It arrives with {}.", name().0, name().1)}
        </p>
    }
}
