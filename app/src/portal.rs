//! The parent portal: what a guardian sees after signing in — their notices (the User Notices
//! page of the product documents), newest first, and their household; and
//! [`preferences`], "My contact preferences".
//!
//! What must stay true: a parent's server functions derive everything from the session's own
//! person; no argument can point them at another household.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use uuid::Uuid;

use crate::auth::{SignOutButton, UiRole, current_user};
use crate::error::AppError;
use crate::present::{MethodView, PersonView};
use crate::ui::Loaded;

pub mod preferences;

/// The signed-in guardian's household as the portal shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdInfo {
    pub guardian: String,
    pub household: Option<String>,
    pub students: Vec<PersonView>,
    pub methods: Vec<MethodView>,
}

#[server(endpoint = "my_household")]
pub async fn my_household() -> Result<HouseholdInfo, AppError> {
    use crate::present::ssr::{method_view, student_detail};
    use herald_core::directory::PeopleScope;
    use herald_core::domain::PersonKind;
    let crate::auth::ssr::Parent { caller, person } = crate::auth::ssr::parent().await?;
    let crate::auth::ssr::Caller {
        state, session: _, ..
    } = caller;
    // A parent reads only their own person, all of it: their household and every student linked.
    let p = herald_core::directory::person_detail(&state.pool, person, PeopleScope::District)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(HouseholdInfo {
        guardian: p.name,
        household: p.household_name,
        students: p
            .relations
            .into_iter()
            .filter(|r| r.messenger_contact)
            .map(|r| PersonView {
                id: r.id.0,
                kind: PersonKind::Student.label().into(),
                name: r.name,
                detail: student_detail(r.grade_level, r.school),
            })
            .collect(),
        methods: p.contact_methods.into_iter().map(method_view).collect(),
    })
}

/// A notice as the portal lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeLine {
    pub id: Uuid,
    pub reason: String,
    pub subject: String,
    pub body: String,
    /// The full message, sanitized HTML (none for notices older than HTML bodies).
    pub body_html: Option<String>,
    /// The notice text says something other than the full message (a shorter version the
    /// admin wrote): show both.
    pub distinct_text: bool,
    pub school: String,
    pub sender: String,
    pub when: String,
    pub read: bool,
}

/// One page of the signed-in parent's notices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticePage {
    pub notices: Vec<NoticeLine>,
    /// The `after` value of the next (older) page, when there is one.
    pub older: Option<String>,
    /// The newest notice shown, to ask for newer ones.
    pub newest: Option<String>,
    pub unread: i64,
}

/// Notices per page.
pub const PAGE_SIZE: i64 = 20;

#[server(endpoint = "my_notices")]
pub async fn my_notices(after: Option<String>) -> Result<NoticePage, AppError> {
    use herald_core::messaging::notices::{self, Cursor};
    let crate::auth::ssr::Parent { caller, person } = crate::auth::ssr::parent().await?;
    let crate::auth::ssr::Caller {
        state, session: _, ..
    } = caller;
    let after = match after.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => Some(Cursor::decode(a).ok_or(AppError::NotFound)?),
        None => None,
    };
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let portal_url =
        herald_core::messaging::email_preferences::portal_url(&state.pool, &state.settings.smtp)
            .await
            .map_err(|e| AppError::internal("portal URL", &e))?;
    let page = notices::page(&state.pool, person, after, PAGE_SIZE, &portal_url)
        .await
        .map_err(|e| AppError::internal("notices", &e))?;
    Ok(NoticePage {
        notices: page
            .notices
            .into_iter()
            .map(|n| NoticeLine {
                id: n.id,
                reason: n.reason.label().into(),
                subject: n.subject,
                distinct_text: n.body_html.as_deref().is_none_or(|h| {
                    herald_core::messaging::template::html_to_text(h).trim() != n.body.trim()
                }),
                body: n.body,
                body_html: n.body_html.as_deref().map(notices::sanitize),
                school: n.school,
                sender: n.sender,
                when: crate::format::when(n.created_at, tz),
                read: n.read,
            })
            .collect(),
        older: page.next.map(|c| c.encode()),
        newest: page.newest.map(|c| c.encode()),
        unread: page.unread,
    })
}

/// How many notices arrived after `than` (a page's newest); every notice when `than` is empty.
#[server(endpoint = "newer_notices")]
pub async fn newer_notices(than: String) -> Result<i64, AppError> {
    use herald_core::messaging::notices::{self, Cursor};
    let crate::auth::ssr::Parent { caller, person } = crate::auth::ssr::parent().await?;
    let crate::auth::ssr::Caller {
        state, session: _, ..
    } = caller;
    if than.is_empty() {
        return Ok(notices::unread(&state.pool, person).await?);
    }
    let than = Cursor::decode(&than).ok_or(AppError::NotFound)?;
    Ok(notices::count_newer(&state.pool, person, than).await?)
}

#[server(endpoint = "read_notice")]
pub async fn read_notice(id: Uuid) -> Result<(), AppError> {
    let crate::auth::ssr::Parent { caller, person } = crate::auth::ssr::parent().await?;
    let crate::auth::ssr::Caller {
        state, session: _, ..
    } = caller;
    if herald_core::messaging::notices::mark_read(&state.pool, person, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

#[server(endpoint = "read_all_notices")]
pub async fn read_all_notices() -> Result<u64, AppError> {
    let crate::auth::ssr::Parent { caller, person } = crate::auth::ssr::parent().await?;
    let crate::auth::ssr::Caller {
        state, session: _, ..
    } = caller;
    Ok(herald_core::messaging::notices::mark_all_read(&state.pool, person).await?)
}

/// "N new notices": shown when the poll finds notices newer than the page; a click shows them.
#[component]
fn NewerNotices(newer: RwSignal<i64>, refresh: RwSignal<u32>) -> impl IntoView {
    view! {
        <div role="status" aria-live="polite">
            {move || (newer.get() > 0).then(|| {
                let n = newer.get();
                view! {
                    <button type="button" class="secondary" data-testid="newer"
                        on:click=move |_| { newer.set(0); refresh.update(|r| *r += 1); }>
                        {if n == 1 { "1 new notice: show it".to_string() } else { format!("{n} new notices: show them") }}
                    </button>
                }
            })}
        </div>
    }
}

/// The portal's pages, for the header's navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalTab {
    Notices,
    Preferences,
}

/// Every portal page: a parent-only gate (others are sent to sign-in or the admin shell), the
/// header with the portal's navigation, and the page in `<main>`.
#[component]
pub fn PortalFrame(tab: PortalTab, children: ChildrenFn) -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    let children = StoredValue::new(children);
    let current = move |t: PortalTab| (t == tab).then_some("page");
    let sign_in = match tab {
        PortalTab::Notices => "/sign-in?next=/portal",
        PortalTab::Preferences => "/sign-in?next=/portal/preferences",
    };
    // Not `Loaded`: who is signed in decides between the portal and a redirect (an error, too,
    // sends the visitor to sign in).
    view! {
        <Suspense fallback=|| view! { <p class="centered">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(u)) if u.role == UiRole::Parent => view! {
                        <div class="portal">
                            <header class="topbar">
                                <span class="brand">"Herald"</span>
                                <nav class="portal-nav" aria-label="Portal">
                                    <a href="/portal" aria-current=current(PortalTab::Notices)>"Notices"</a>
                                    <a href="/portal/preferences" aria-current=current(PortalTab::Preferences)>"My contact preferences"</a>
                                </nav>
                                <span class="who">{u.name}</span>
                                <SignOutButton />
                            </header>
                            <main>{children.with_value(|c| c())}</main>
                        </div>
                    }.into_any(),
                    Ok(Some(_)) => view! { <Redirect path="/admin" /> }.into_any(),
                    _ => view! { <Redirect path=sign_in /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// `/portal`: the User Notices page.
#[component]
pub fn PortalPage() -> impl IntoView {
    view! {
        <PortalFrame tab=PortalTab::Notices>
            <Notices />
        </PortalFrame>
    }
}

#[component]
fn Notices() -> impl IntoView {
    let household = Resource::new(|| (), |_| my_household());
    let query = use_query_map();
    let after = move || query.with(|q| q.get("after"));
    let read = Action::new(|id: &Uuid| read_notice(*id));
    let read_all = Action::new(|_: &()| read_all_notices());
    // Bumped to show notices that arrived while the page was open.
    let refresh = RwSignal::new(0u32);
    let notices = Resource::new(
        move || (after(), read_all.version().get(), refresh.get()),
        |(after, _, _)| my_notices(after),
    );
    // While the newest page is open, ask every 15 seconds whether newer notices arrived.
    let newer = RwSignal::new(0i64);
    let newest = RwSignal::new(None::<String>);
    crate::poll::every(std::time::Duration::from_secs(15), move || {
        if after().is_some() {
            return;
        }
        let than = newest.get_untracked().unwrap_or_default();
        leptos::task::spawn_local(async move {
            if let Ok(n) = newer_notices(than).await {
                newer.set(n);
            }
        });
    });
    view! {
                <h1>"User Notices"</h1>
                <Loaded resource=notices let:page>
                    {if page.notices.is_empty() && after().is_none() {
                        newest.set(None);
                        newer.set(0);
                        view! {
                            <p class="muted">"You have no notices yet. Messages from your schools will appear here."</p>
                            <NewerNotices newer refresh />
                        }.into_any()
                    } else {
                        newest.set(page.newest.clone());
                        newer.set(0);
                        view! {
                            <NewerNotices newer refresh />
                            <NoticeBar unread=page.unread read_all />
                            <NoticeList notices=page.notices read />
                            <nav class="pager" aria-label="Notice pages">
                                {after().is_some().then(|| view! { <a href="/portal">"Newest notices"</a> })}
                                {page.older.map(|o| view! { <a href=format!("/portal?after={o}")>"Older notices"</a> })}
                            </nav>
                        }.into_any()
                    }}
                </Loaded>
                <Loaded resource=household let:h>
                    <Household h />
                </Loaded>
    }
}

/// "3 unread" and **Mark all read**.
#[component]
fn NoticeBar(unread: i64, read_all: Action<(), Result<u64, AppError>>) -> impl IntoView {
    view! {
        <div class="notice-bar">
            <span data-testid="unread">{match unread {
                0 => "All read".to_string(),
                1 => "1 unread".to_string(),
                n => format!("{n} unread"),
            }}</span>
            {(unread > 0).then(|| view! {
                <button type="button" on:click=move |_| { read_all.dispatch(()); }>"Mark all read"</button>
            })}
        </div>
    }
}

/// The page's notices; opening one marks it read.
#[component]
fn NoticeList(notices: Vec<NoticeLine>, read: Action<Uuid, Result<(), AppError>>) -> impl IntoView {
    view! {
        <ul class="notices" data-testid="notices">
            {notices.into_iter().map(|n| {
                let id = n.id;
                view! {
                    <li class:unread=!n.read>
                        <details on:toggle=move |_| { read.dispatch(id); }>
                            <summary>
                                {(!n.read).then(|| view! { <span class="badge">"New"</span>" " })}
                                <span class="notice-subject">{n.subject}</span>
                                <span class="muted notice-meta">{format!("{} · {} · {} · {}", n.school, n.sender, n.reason, n.when)}</span>
                            </summary>
                            {n.distinct_text.then(|| view! { <p class="notice-body">{n.body.clone()}</p> })}
                            {n.body_html.map(|h| view! { <div class="notice-body notice-html" inner_html=h></div> })}
                        </details>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

/// The parent's students and how the district reaches them.
#[component]
fn Household(h: HouseholdInfo) -> impl IntoView {
    view! {
        <h2>"My students"</h2>
        <ul class="students">{h.students.into_iter().map(|s| view! {
            <li>{s.name} <span class="muted">{format!(" · {}", s.detail)}</span></li>
        }).collect_view()}</ul>
        <h2>"How we reach you"</h2>
        <p><a href="/portal/preferences">"Choose which messages reach you"</a></p>
        <ul class="methods">{h.methods.into_iter().map(|m| {
            let off: Vec<String> = m.preferences.iter().filter(|(_, on)| !on).map(|(r, _)| r.clone()).collect();
            view! {
                <li>
                    <strong>{m.label}</strong> <span class="muted">{format!(" {}", m.kind)}</span>
                    {m.household_phone.then(|| view! { <span class="badge">"household phone"</span> })}
                    <div class="muted">{if off.is_empty() { "All messages".to_string() } else { format!("Not for: {}", off.join(", ")) }}</div>
                </li>
            }
        }).collect_view()}</ul>
    }
}
