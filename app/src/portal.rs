//! The parent portal: what a guardian sees after signing in — their notices (the User Notices
//! page of the product documents), newest first, and their household.
//!
//! What must stay true: a parent's server functions derive everything from the session's own
//! person; no argument can point them at another household.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use serde::{Deserialize, Serialize};

use crate::admin::people::{MethodRow, PersonRow};
use crate::auth::{SignOutButton, UiRole, current_user};
use crate::error::AppError;

/// The signed-in guardian's household as the portal shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdInfo {
    pub guardian: String,
    pub household: Option<String>,
    pub students: Vec<PersonRow>,
    pub methods: Vec<MethodRow>,
}

#[server(endpoint = "my_household")]
pub async fn my_household() -> Result<HouseholdInfo, AppError> {
    use herald_core::accounts::Role;
    let (state, session, _) = crate::auth::ssr::require(&[Role::Parent]).await?;
    let person = session.account.person_id.ok_or(AppError::NotFound)?;
    let p = herald_core::directory::person_detail(&state.pool, person)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(HouseholdInfo {
        guardian: p.name,
        household: p.household_name,
        students: p
            .relations
            .into_iter()
            .filter(|r| r.messenger_contact)
            .map(|r| PersonRow {
                id: r.id.to_string(),
                kind: "Student".into(),
                name: r.name,
                detail: crate::admin::people::ssr::student_detail(r.grade_level, r.school),
            })
            .collect(),
        methods: p
            .contact_methods
            .into_iter()
            .map(crate::admin::people::ssr::method_row)
            .collect(),
    })
}

/// A notice as the portal lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeLine {
    pub id: String,
    pub reason: String,
    pub subject: String,
    pub body: String,
    pub when: String,
    pub read: bool,
}

#[server(endpoint = "my_notices")]
pub async fn my_notices() -> Result<Vec<NoticeLine>, AppError> {
    use herald_core::accounts::Role;
    let (state, session, _) = crate::auth::ssr::require(&[Role::Parent]).await?;
    let person = session.account.person_id.ok_or(AppError::NotFound)?;
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let notices = herald_core::messaging::report::notices(&state.pool, person, 100).await?;
    Ok(notices
        .into_iter()
        .map(|n| NoticeLine {
            id: n.id.to_string(),
            reason: n.reason.label().into(),
            subject: n.subject,
            body: n.body,
            when: n
                .created_at
                .with_timezone(&tz)
                .format("%b %-d, %-I:%M %p")
                .to_string(),
            read: n.read,
        })
        .collect())
}

#[server(endpoint = "read_notice")]
pub async fn read_notice(id: String) -> Result<(), AppError> {
    use herald_core::accounts::Role;
    let (state, session, _) = crate::auth::ssr::require(&[Role::Parent]).await?;
    let person = session.account.person_id.ok_or(AppError::NotFound)?;
    let id = id.parse().map_err(|_| AppError::NotFound)?;
    if herald_core::messaging::report::mark_notice_read(&state.pool, person, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// `/portal`.
#[component]
pub fn PortalPage() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    view! {
        <Suspense fallback=|| view! { <p class="centered">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(u)) if u.role == UiRole::Parent => view! { <Portal name=u.name /> }.into_any(),
                    Ok(Some(_)) => view! { <Redirect path="/admin" /> }.into_any(),
                    _ => view! { <Redirect path="/sign-in" /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Portal(name: String) -> impl IntoView {
    let household = Resource::new(|| (), |_| my_household());
    let notices = Resource::new(|| (), |_| my_notices());
    let read = Action::new(|id: &String| read_notice(id.clone()));
    view! {
        <div class="portal">
            <header class="topbar">
                <span class="brand">"Herald"</span>
                <span class="who">{name}</span>
                <SignOutButton />
            </header>
            <main>
                <h1>"User Notices"</h1>
                <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match notices.await {
                            Ok(list) if list.is_empty() => view! {
                                <p class="muted">"You have no notices yet. Messages from your schools will appear here."</p>
                            }.into_any(),
                            Ok(list) => view! {
                                <ul class="notices" data-testid="notices">
                                    {list.into_iter().map(|n| {
                                        let id = n.id.clone();
                                        view! {
                                            <li class:unread=!n.read>
                                                <details on:toggle=move |_| { read.dispatch(id.clone()); }>
                                                    <summary>
                                                        <span class="notice-subject">{n.subject}</span>
                                                        <span class="muted">{format!(" · {} · {}", n.reason, n.when)}</span>
                                                    </summary>
                                                    <p class="notice-body">{n.body}</p>
                                                </details>
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                            }.into_any(),
                            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
                <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match household.await {
                            Ok(h) => view! {
                                <h2>"My students"</h2>
                                <ul class="students">{h.students.into_iter().map(|s| view! {
                                    <li>{s.name} <span class="muted">{format!(" · {}", s.detail)}</span></li>
                                }).collect_view()}</ul>
                                <h2>"How we reach you"</h2>
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
                            }.into_any(),
                            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
            </main>
        </div>
    }
}
