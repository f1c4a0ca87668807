//! People search: find a student, guardian or staff member and see their household, relations,
//! district assignments, contact methods and per-reason contact preferences, with the history of
//! every preference change (who, when, old, new) and text-message consents; for a district admin,
//! also the person's sign-in accounts, whether each can sign in, and a switch to disable one.
//!
//! What must stay true: only district admins and teachers can search, and a teacher finds, opens
//! and sees listed only the students of their sections and those students' guardians
//! (`Staff::people_scope`): anyone else is, to them, not found. Results are capped so a
//! one-letter query stays fast on a 100,000-student district.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::admin::ToolbarCalendar;
use crate::auth::UiRole;
use crate::error::AppError;
use crate::present::{MethodView, PersonView};
use crate::ui::{ErrorAlert, Loaded, LoadedTransition, TableWrap, url_id};

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
    /// The person's sign-in accounts; listed to district admins only.
    pub accounts: Vec<AccountLine>,
}

/// One sign-in account on the person card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLine {
    pub id: Uuid,
    pub email: String,
    /// "Parent", "Teacher", "District admin".
    pub role: String,
    pub access: AccountAccess,
}

/// Whether an account can sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountAccess {
    CanSignIn,
    /// An admin disabled it: when, and who.
    Disabled {
        since: String,
        by: String,
    },
    /// The roster bars it; why, as a sentence.
    Barred(String),
}

#[server(endpoint = "search_people")]
pub async fn search_people(
    query: String,
    calendar_id: Option<String>,
) -> Result<Vec<PersonView>, AppError> {
    /// Enough to pick from; a one-letter query stays cheap on a large district.
    const MAX_HITS: i64 = 25;
    let staff = crate::auth::ssr::staff().await?;
    let scope = staff.people_scope()?;
    if query.trim().chars().count() < 2 {
        return Ok(Vec::new());
    }
    let calendar = calendar_id.and_then(|c| c.parse().ok());
    let hits = herald_core::directory::search_people(
        &staff.0.state.pool,
        &query,
        calendar,
        scope,
        MAX_HITS,
    )
    .await?;
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
    let staff = crate::auth::ssr::staff().await?;
    let scope = staff.people_scope()?;
    let pool = &staff.0.state.pool;
    let p = herald_core::directory::person_detail(pool, PersonId(id), scope)
        .await?
        .ok_or(AppError::NotFound)?;
    let accounts = if staff.0.session.account.role == herald_core::accounts::Role::DistrictAdmin {
        account_lines(pool, p.id).await?
    } else {
        Vec::new()
    };
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
        accounts,
    })
}

#[cfg(feature = "ssr")]
async fn account_lines(
    pool: &sqlx::PgPool,
    person: herald_core::domain::PersonId,
) -> Result<Vec<AccountLine>, AppError> {
    use herald_core::accounts::{self, Bar, Role};
    let tz = herald_core::directory::time_zone(pool).await?;
    let accounts = accounts::of_person(pool, person)
        .await
        .map_err(|e| AppError::internal("person's accounts", &e))?;
    Ok(accounts
        .into_iter()
        .map(|a| AccountLine {
            id: a.id.0,
            email: a.email,
            role: match a.role {
                Role::DistrictAdmin => "District admin",
                Role::Teacher => "Teacher",
                Role::Parent => "Parent",
            }
            .into(),
            access: match (a.bar, a.disabled) {
                (None, _) => AccountAccess::CanSignIn,
                (Some(Bar::Disabled), Some((at, by))) => AccountAccess::Disabled {
                    since: crate::format::when(at, tz),
                    by: by.unwrap_or_else(|| "the command line".into()),
                },
                (Some(bar), _) => AccountAccess::Barred(bar.describe().into()),
            },
        })
        .collect())
}

/// Disables a sign-in account, ending its sessions at once, or enables it again. An admin cannot
/// disable the account they are signed in with.
#[server(endpoint = "set_account_disabled")]
pub async fn set_account_disabled(account: Uuid, disabled: bool) -> Result<(), AppError> {
    use herald_core::accounts;
    use herald_core::domain::AccountId;
    let admin = crate::auth::ssr::admin().await?.0;
    let me = admin.session.account.id;
    if disabled && me.0 == account {
        return Err(AppError::Invalid(
            "You cannot disable the account you are signed in with.".into(),
        ));
    }
    let found = accounts::set_disabled(&admin.state.pool, AccountId(account), disabled, Some(me))
        .await
        .map_err(|e| AppError::internal("disable account", &e))?;
    if !found {
        return Err(AppError::NotFound);
    }
    tracing::info!(%account, disabled, by = %me.0, "account access changed");
    Ok(())
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
    let staff = crate::auth::ssr::staff().await?;
    let scope = staff.people_scope()?;
    let state = staff.0.state;
    let id = herald_core::domain::PersonId(id);
    if !herald_core::directory::in_scope(&state.pool, id, scope).await? {
        return Err(AppError::NotFound);
    }
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
    let teacher = use_context::<UiRole>() == Some(UiRole::Teacher);
    let nobody = if teacher {
        "Nobody in your sections matches."
    } else {
        "Nobody matches."
    };
    view! {
        <h1>"People"</h1>
        {teacher.then(|| view! {
            <p class="hint">"You can find the students of the sections you teach and their guardians."</p>
        })}
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
                        view! { <p class="muted">{nobody}</p> }.into_any()
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
    let refresh = RwSignal::new(0u32);
    let card = Resource::new(
        move || (id.clone(), refresh.get()),
        |(id, _)| async move { person_card(id?).await },
    );
    view! {
        <section class="person" aria-label="Person">
            <LoadedTransition resource=card let:p>
                <PersonDetails p refresh />
            </LoadedTransition>
        </section>
    }
}

#[component]
fn PersonDetails(p: PersonInfo, refresh: RwSignal<u32>) -> impl IntoView {
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
                <TableWrap label="Contact methods and preferences">
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
                </TableWrap>
            }.into_any()
        }}
        {(!p.accounts.is_empty()).then(|| view! { <SignInAccounts accounts=p.accounts.clone() refresh /> })}
        <PreferenceChanges id=p.id />
    }
}

/// The person's sign-in accounts, whether each can sign in, and Disable / Enable.
#[component]
fn SignInAccounts(accounts: Vec<AccountLine>, refresh: RwSignal<u32>) -> impl IntoView {
    let switch = Action::new(|(id, disabled): &(Uuid, bool)| set_account_disabled(*id, *disabled));
    Effect::new(move |_| {
        if matches!(switch.value().get(), Some(Ok(()))) {
            refresh.update(|n| *n += 1);
        }
    });
    view! {
        <h3>"Sign-in"</h3>
        <ul class="accounts" data-testid="sign-in-accounts">
            {accounts.into_iter().map(|a| {
                let (state, disabled) = match a.access {
                    AccountAccess::CanSignIn => ("Can sign in".to_string(), false),
                    AccountAccess::Disabled { since, by } => (format!("Disabled {since} by {by}"), true),
                    AccountAccess::Barred(why) => (why, false),
                };
                let id = a.id;
                let label = if disabled { "Enable sign-in" } else { "Disable sign-in" };
                let name = format!("{label} for {}", a.email);
                view! {
                    <li>
                        <strong>{a.email}</strong>
                        <span class="muted">{format!(" {} · ", a.role)}</span>
                        <span data-testid="account-access">{state}</span>
                        " "
                        <button type="button" class=if disabled { "" } else { "danger" } aria-label=name
                            disabled=move || switch.pending().get()
                            on:click=move |_| { switch.dispatch((id, !disabled)); }>
                            {label}
                        </button>
                    </li>
                }
            }).collect_view()}
        </ul>
        {move || match switch.value().get() {
            Some(Err(error)) => Some(view! { <ErrorAlert error /> }),
            _ => None,
        }}
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
                        <TableWrap label="Preference changes">
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
                        </TableWrap>
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
