//! People search: find a student, guardian or staff member and see their household, relations,
//! district assignments, contact methods and per-reason contact preferences, with the history of
//! every preference change (who, when, old, new) and text-message consents.
//!
//! What must stay true: only district admins and teachers can search; results are capped so a
//! one-letter query stays fast on a 100,000-student district.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::admin::ToolbarCalendar;
use crate::error::AppError;
use crate::present::{MethodView, PersonView};
use crate::ui::{Loaded, LoadedTransition, url_id};

/// One person in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonInfo {
    pub id: Uuid,
    /// `PersonKind::label`.
    pub kind: String,
    /// A student: the relations listed are guardians (else students).
    pub is_student: bool,
    pub name: String,
    pub summary: String,
    pub active: bool,
    pub household: Option<String>,
    pub members: Vec<PersonView>,
    /// Each relation, and whether they are a messenger contact.
    pub relations: Vec<(PersonView, bool)>,
    pub assignments: Vec<String>,
    pub methods: Vec<MethodView>,
}

#[server(endpoint = "search_people")]
pub async fn search_people(
    query: String,
    calendar_id: Option<String>,
) -> Result<Vec<PersonView>, AppError> {
    /// Enough to pick from; a one-letter query stays cheap on a large district.
    const MAX_HITS: i64 = 25;
    let state = crate::auth::ssr::staff().await?.0.state;
    if query.trim().chars().count() < 2 {
        return Ok(Vec::new());
    }
    let calendar = calendar_id.and_then(|c| c.parse().ok());
    let hits =
        herald_core::directory::search_people(&state.pool, &query, calendar, MAX_HITS).await?;
    Ok(hits
        .into_iter()
        .map(crate::present::ssr::person_view)
        .collect())
}

#[server(endpoint = "person_card")]
pub async fn person_card(id: Uuid) -> Result<PersonInfo, AppError> {
    use crate::present::ssr::{method_view, person_view, student_detail};
    use herald_core::directory::Relation;
    use herald_core::domain::{PersonId, PersonKind};
    let state = crate::auth::ssr::staff().await?.0.state;
    let p = herald_core::directory::person_detail(&state.pool, PersonId(id))
        .await?
        .ok_or(AppError::NotFound)?;
    let summary = [
        p.grade_level.as_ref().map(|g| format!("Grade {g}")),
        p.identifier.as_ref().map(|i| format!("#{i}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    Ok(PersonInfo {
        id: p.id.0,
        kind: p.kind.label().into(),
        is_student: p.kind == PersonKind::Student,
        name: p.name,
        summary,
        active: p.active,
        household: p.household_name,
        members: p.household_members.into_iter().map(person_view).collect(),
        relations: p
            .relations
            .into_iter()
            .map(
                |Relation {
                     id,
                     name,
                     relationship,
                     messenger_contact,
                     grade_level,
                     school,
                 }| {
                    let detail = match grade_level {
                        Some(g) => student_detail(Some(g), school),
                        None => relationship,
                    };
                    (
                        PersonView {
                            id: id.0,
                            kind: String::new(),
                            name,
                            detail,
                        },
                        messenger_contact,
                    )
                },
            )
            .collect(),
        assignments: p.assignments,
        methods: p.contact_methods.into_iter().map(method_view).collect(),
    })
}

/// One change to a contact preference, as the People page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub when: String,
    pub method: String,
    pub reason: String,
    /// "Default (on) → Off".
    pub change: String,
    pub by: String,
    /// Someone other than the recipient changed a choice the recipient had made.
    pub overrode_owner: bool,
}

/// One text-message consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentLine {
    pub phone: String,
    pub given: String,
    pub withdrawn: Option<String>,
    pub wording: String,
}

/// Who changed a person's preferences and when, and their text-message consents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreferenceLog {
    pub changes: Vec<HistoryLine>,
    /// More changes exist than are listed.
    pub more: bool,
    pub consents: Vec<ConsentLine>,
}

#[server(endpoint = "preference_history")]
pub async fn preference_history(id: Uuid) -> Result<PreferenceLog, AppError> {
    use herald_core::contact_preferences;
    /// Enough for any person's story; a method re-imported nightly would otherwise grow without end.
    const SHOWN: usize = 100;
    let state = crate::auth::ssr::staff().await?.0.state;
    let id = herald_core::domain::PersonId(id);
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let when = |at| crate::format::when(at, tz);
    let mut entries = contact_preferences::history(&state.pool, id, SHOWN as i64 + 1).await?;
    let more = entries.len() > SHOWN;
    entries.truncate(SHOWN);
    let state_word = |v: Option<bool>| match v {
        Some(true) => "On",
        Some(false) => "Off",
        None => "Default",
    };
    let method = |m: &str| {
        if m.starts_with('+') {
            crate::format::phone(m)
        } else {
            m.to_string()
        }
    };
    Ok(PreferenceLog {
        changes: entries
            .into_iter()
            .map(|e| HistoryLine {
                when: when(e.at),
                method: method(&e.method),
                reason: e.reason.label().into(),
                change: format!("{} → {}", state_word(e.old), state_word(e.new)),
                by: e.by.describe(),
                overrode_owner: e.overrode_owner,
            })
            .collect(),
        more,
        consents: contact_preferences::consents(&state.pool, id)
            .await?
            .into_iter()
            .map(|c| ConsentLine {
                phone: method(&c.phone),
                given: format!("{} by {}", when(c.given_at), c.given_by.describe()),
                withdrawn: c
                    .withdrawn
                    .map(|(at, by)| format!("{} by {}", when(at), by.describe())),
                wording: c.wording,
            })
            .collect(),
    })
}

/// `/admin/people` and `/admin/people/:id`.
#[component]
pub fn PeoplePage() -> impl IntoView {
    let ToolbarCalendar(scope) = expect_context::<ToolbarCalendar>();
    let params = use_params_map();
    let query = RwSignal::new(String::new());
    let hits = Resource::new(
        move || (query.get(), scope.get()),
        |(q, cal)| search_people(q, cal),
    );
    let selected = move || params.read().get("id");
    view! {
        <h1>"People"</h1>
        <div class="people">
            <section class="search" aria-label="Search">
                <input
                    type="search"
                    placeholder="Name, student number, email or phone"
                    aria-label="Search people"
                    prop:value=query
                    on:input=move |ev| query.set(event_target_value(&ev))
                />
                <LoadedTransition resource=hits fallback=|| () let:list>
                    {if list.is_empty() && query.get_untracked().trim().len() >= 2 {
                        view! { <p class="muted">"Nobody matches."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="hits">
                                {list.into_iter().map(|p| view! {
                                    <li>
                                        <a href=format!("/admin/people/{}", p.id)>
                                            <strong>{p.name}</strong>
                                            <span class="muted">{format!(" {} · {}", p.kind, p.detail)}</span>
                                        </a>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                </LoadedTransition>
            </section>
            {move || selected().map(|id| view! { <PersonPanel id=url_id(&id) /> })}
        </div>
    }
}

/// The person the URL names, or "Not found.".
#[component]
fn PersonPanel(id: Result<Uuid, AppError>) -> impl IntoView {
    let card = Resource::new(
        move || id.clone(),
        |id| async move { person_card(id?).await },
    );
    view! {
        <section class="person" aria-label="Person">
            <Loaded resource=card let:p>
                <PersonDetails p />
            </Loaded>
        </section>
    }
}

#[component]
fn PersonDetails(p: PersonInfo) -> impl IntoView {
    let reasons: Vec<String> = p
        .methods
        .first()
        .map(|m| m.preferences.iter().map(|(r, _)| r.clone()).collect())
        .unwrap_or_default();
    view! {
        <h2>{p.name.clone()} " " <small class="muted">{p.kind.clone()} " " {p.summary.clone()}</small></h2>
        {(!p.active).then(|| view! { <p class="warning">"Inactive"</p> })}
        {p.household.clone().map(|h| view! {
            <h3>{h}</h3>
            <ul>{p.members.iter().map(|m| view! {
                <li><a href=format!("/admin/people/{}", m.id)>{m.name.clone()}</a> <span class="muted">{format!(" {} {}", m.kind, m.detail)}</span></li>
            }).collect_view()}</ul>
        })}
        {(!p.relations.is_empty()).then(|| view! {
            <h3>{if p.is_student { "Guardians" } else { "Students" }}</h3>
            <ul>{p.relations.iter().map(|(r, contact)| view! {
                <li>
                    <a href=format!("/admin/people/{}", r.id)>{r.name.clone()}</a>
                    <span class="muted">{format!(" {}", r.detail)}</span>
                    {(!contact).then(|| view! { <span class="badge">"not a messenger contact"</span> })}
                </li>
            }).collect_view()}</ul>
        })}
        {(!p.assignments.is_empty()).then(|| view! {
            <h3>"District assignments"</h3>
            <ul>{p.assignments.iter().map(|a| view! { <li>{a.clone()}</li> }).collect_view()}</ul>
        })}
        <h3>"Contact methods and preferences"</h3>
        {if p.methods.is_empty() {
            view! { <p class="muted">"No email or phone on file."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                <table class="prefs">
                    <thead><tr><th scope="col">"Method"</th>{reasons.iter().map(|r| view! { <th scope="col">{r.clone()}</th> }).collect_view()}</tr></thead>
                    <tbody>
                        {p.methods.iter().map(|m| view! {
                            <tr>
                                <th scope="row">
                                    {m.label.clone()} <span class="muted">{format!(" {}", m.kind)}</span>
                                    {m.household_phone.then(|| view! { <span class="badge">"household"</span> })}
                                    {m.sms_capable.then(|| view! { <span class="badge">"SMS"</span> })}
                                </th>
                                {m.preferences.iter().map(|(r, on)| view! {
                                    <td class=if *on { "on" } else { "off" } title=r.clone()>{if *on { "On" } else { "Off" }}</td>
                                }).collect_view()}
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                </div>
            }.into_any()
        }}
        <PreferenceChanges id=p.id />
    }
}

/// The person's preference history: who changed what, and when; changes that overrode the
/// recipient's own choice are marked.
#[component]
fn PreferenceChanges(id: Uuid) -> impl IntoView {
    let history = Resource::new(move || id, preference_history);
    view! {
        <Loaded resource=history fallback=|| () let:h>
            {if h.changes.is_empty() && h.consents.is_empty() {
                view! {
                    <h3>"Preference history"</h3>
                    <p class="muted">"No changes since the roster was imported."</p>
                }.into_any()
            } else {
                view! {
                    <h3>"Preference history"</h3>
                    {(!h.changes.is_empty()).then(|| view! {
                        <div class="table-wrap">
                        <table class="grid history" data-testid="preference-history">
                            <thead><tr>
                                <th scope="col">"When"</th><th scope="col">"Method"</th><th scope="col">"Reason"</th>
                                <th scope="col">"Change"</th><th scope="col">"By"</th>
                            </tr></thead>
                            <tbody>
                                {h.changes.into_iter().map(|c| view! {
                                    <tr class:overrode=c.overrode_owner>
                                        <td class="nowrap">{c.when}</td><td>{c.method}</td><td>{c.reason}</td><td class="nowrap">{c.change}</td>
                                        <td>
                                            {c.by}
                                            {c.overrode_owner.then(|| view! { <span class="badge warning">"overrode the recipient's choice"</span> })}
                                        </td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        </div>
                        {h.more.then(|| view! { <p class="hint">"Showing the newest 100 changes."</p> })}
                    })}
                    {(!h.consents.is_empty()).then(|| view! {
                        <h3>"Text-message consent"</h3>
                        <ul class="consents">
                            {h.consents.into_iter().map(|c| view! {
                                <li>
                                    <strong>{c.phone}</strong>
                                    {format!(": agreed {}", c.given)}
                                    {c.withdrawn.map(|w| format!("; withdrawn {w}"))}
                                    <div class="muted">{format!("“{}”", c.wording)}</div>
                                </li>
                            }).collect_view()}
                        </ul>
                    })}
                }.into_any()
            }}
        </Loaded>
    }
}
