//! "My contact preferences" (`/portal/preferences`): each of the parent's email addresses and
//! phones against each contact reason, switched on and off one at a time, and text-message
//! consent per mobile phone.
//!
//! What must stay true:
//! - Every server function here takes the person from the session; a method id that is not the
//!   parent's own (or their household's phone) is answered `NotFound`, the same as one that does
//!   not exist.
//! - A change is saved when it is made and announced in a live region with an undo; a failed
//!   save puts the switch back and says why.
//! - The page reads fully from the server-rendered HTML (every switch's state is in the markup).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;
use crate::portal::{PortalFrame, PortalTab};
use crate::ui::Loaded;

/// One reason on one method, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonPref {
    /// `ContactReason::as_str`.
    pub reason: String,
    pub label: String,
    pub enabled: bool,
    /// On, and the district requires it.
    pub required: bool,
}

/// Text messages on one phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TextsPref {
    NotOffered,
    /// Off; agreeing means agreeing to `wording`.
    Off {
        wording: String,
    },
    /// On since `since`, under `wording`.
    On {
        since: String,
        wording: String,
    },
}

/// One email address or phone with its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodPrefs {
    pub id: Uuid,
    /// The address or the phone number as people write it.
    pub label: String,
    /// "Email", "Cell phone", "Household phone", …
    pub kind: String,
    pub household_phone: bool,
    pub reasons: Vec<ReasonPref>,
    pub texts: TextsPref,
}

#[server(endpoint = "my_preferences")]
pub async fn my_preferences() -> Result<Vec<MethodPrefs>, AppError> {
    use herald_core::contact_preferences::{self, Texts};
    let crate::auth::ssr::Parent { caller, person } = crate::auth::ssr::parent().await?;
    let crate::auth::ssr::Caller {
        state, session: _, ..
    } = caller;
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let district = contact_preferences::district_name(&state.pool).await?;
    let methods = contact_preferences::of_person(&state.pool, person).await?;
    Ok(methods
        .into_iter()
        .map(|m| {
            let label = crate::format::contact(m.email.as_deref(), m.phone.as_deref());
            MethodPrefs {
                id: m.id.0,
                kind: match (m.household_phone, m.phone_kind) {
                    (true, _) => "Household phone".into(),
                    (false, Some(k)) => format!("{} phone", k.label()),
                    (false, None) => "Email".into(),
                },
                household_phone: m.household_phone,
                reasons: m
                    .reasons
                    .iter()
                    .map(|r| ReasonPref {
                        reason: r.reason.as_str().into(),
                        label: r.reason.label().into(),
                        enabled: r.enabled,
                        required: r.required,
                    })
                    .collect(),
                texts: match m.texts {
                    Texts::NotOffered => TextsPref::NotOffered,
                    Texts::Off => TextsPref::Off {
                        wording: contact_preferences::texts_wording(&district, &label),
                    },
                    Texts::On { since, wording } => TextsPref::On {
                        since: crate::format::day(since, tz),
                        wording,
                    },
                },
                label,
            }
        })
        .collect())
}

#[cfg(feature = "ssr")]
mod ssr {
    use herald_core::contact_preferences::PreferenceError;

    use crate::error::AppError;

    pub fn refused(e: PreferenceError) -> AppError {
        match e {
            PreferenceError::NotYours => AppError::NotFound,
            PreferenceError::EmergencyRequired => AppError::Invalid(
                "Emergency messages stay on for this contact: your district requires them.".into(),
            ),
            PreferenceError::NotMobile => {
                AppError::Invalid("Text messages can only be turned on for a mobile phone.".into())
            }
            PreferenceError::Database(e) => AppError::from(e),
        }
    }
}

/// Turns `reason` on or off on one of the parent's methods.
#[server(endpoint = "set_my_preference")]
pub async fn set_my_preference(
    method: Uuid,
    reason: String,
    enabled: bool,
) -> Result<(), AppError> {
    use herald_core::contact_preferences::{self, ChangedBy};
    use herald_core::domain::{ContactMethodId, ContactReason};
    let crate::auth::ssr::Parent { caller, person } = crate::auth::ssr::parent().await?;
    let crate::auth::ssr::Caller { state, session, .. } = caller;
    let method = ContactMethodId(method);
    let reason: ContactReason = reason.parse().map_err(|_| AppError::NotFound)?;
    let by = ChangedBy::Portal(session.account.email.clone());
    contact_preferences::set(&state.pool, person, method, reason, enabled, &by)
        .await
        .map_err(ssr::refused)?;
    Ok(())
}

/// Turns text messages on (agreeing to the wording the page showed, which the server writes
/// again itself rather than taking from the browser) or off on one of the parent's phones.
#[server(endpoint = "set_my_texts")]
pub async fn set_my_texts(method: Uuid, on: bool) -> Result<(), AppError> {
    use herald_core::contact_preferences::{self, ChangedBy};
    let crate::auth::ssr::Parent { caller, person } = crate::auth::ssr::parent().await?;
    let crate::auth::ssr::Caller { state, session, .. } = caller;
    let id = herald_core::domain::ContactMethodId(method);
    let by = ChangedBy::Portal(session.account.email.clone());
    if !on {
        return contact_preferences::withdraw_texts(&state.pool, person, id, &by)
            .await
            .map_err(ssr::refused);
    }
    let district = contact_preferences::district_name(&state.pool).await?;
    let wording =
        |phone: &str| contact_preferences::texts_wording(&district, &crate::format::phone(phone));
    contact_preferences::consent_to_texts(&state.pool, person, id, wording, &by)
        .await
        .map_err(ssr::refused)
}

/// What the live region says after a change, with the change that undoes it.
#[derive(Clone)]
struct Said {
    text: String,
    error: bool,
    undo: Option<Toggle>,
}

/// One switch: which method and reason, and its state on the page.
#[derive(Clone)]
struct Toggle {
    method: Uuid,
    method_label: String,
    reason: String,
    reason_label: String,
    checked: RwSignal<bool>,
    pending: RwSignal<bool>,
}

impl Toggle {
    /// Saves `enabled`, announcing the outcome in `said`; a refusal puts the switch back.
    fn save(self, enabled: bool, said: RwSignal<Option<Said>>) {
        self.checked.set(enabled);
        self.pending.set(true);
        leptos::task::spawn_local(async move {
            let result = set_my_preference(self.method, self.reason.clone(), enabled).await;
            self.pending.set(false);
            said.set(Some(match result {
                Ok(()) => Said {
                    text: format!(
                        "{} messages to {} are {}.",
                        self.reason_label,
                        self.method_label,
                        if enabled { "on" } else { "off" }
                    ),
                    error: false,
                    undo: Some(self),
                },
                Err(e) => {
                    self.checked.set(!enabled);
                    Said {
                        text: e.to_string(),
                        error: true,
                        undo: None,
                    }
                }
            }));
        });
    }
}

/// `/portal/preferences`.
#[component]
pub fn PreferencesPage() -> impl IntoView {
    view! {
        <PortalFrame tab=PortalTab::Preferences>
            <Preferences />
        </PortalFrame>
    }
}

#[component]
fn Preferences() -> impl IntoView {
    let texts_changed = RwSignal::new(0u32);
    let methods = Resource::new(move || texts_changed.get(), |_| my_preferences());
    let said = RwSignal::new(None::<Said>);
    // The switches save through WASM. Until it has loaded they are disabled, so a switch flipped
    // on a slow phone is never silently put back when the page hydrates. Effects run only in the
    // browser, after hydration.
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));
    view! {
        <h1>"My contact preferences"</h1>
        <p class="hint">
            "Choose which messages reach each of your email addresses and phones. Each change is saved as you make it."
        </p>
        <p class="hint" data-testid="loading-switches" hidden=move || ready.get()>
            "The switches can be changed once this page has finished loading (it needs JavaScript)."
        </p>
        <div class="said" role="status" aria-live="polite" data-testid="said">
            {move || said.get().map(|s| view! {
                <p class:error=s.error>{s.text.clone()}</p>
                {s.undo.map(|t| {
                    let undo_to = !t.checked.get_untracked();
                    view! {
                        <button type="button" class="secondary"
                            on:click=move |_| t.clone().save(undo_to, said)>"Undo"</button>
                    }
                })}
            })}
        </div>
        <Loaded resource=methods let:list>
            {if list.is_empty() {
                view! {
                    <p class="muted">"Your school has no email address or phone number on file for you. Contact your student's school to add one."</p>
                }.into_any()
            } else {
                view! {
                    {list.iter().any(|m| m.reasons.iter().any(|r| r.required)).then(|| view! {
                        <p class="why" id="why-required">
                            <strong>"Why emergency messages stay on: "</strong>
                            "your district requires emergency messages to reach the contacts it has on file as emergency contacts, so that it can reach every family during a lockdown, a closure or another urgent safety matter. To change which contacts are your emergency contacts, contact your student's school."
                        </p>
                    })}
                    {list.into_iter().map(|m| view! { <MethodCard m said texts_changed ready /> }).collect_view()}
                }.into_any()
            }}
        </Loaded>
    }
}

#[component]
fn MethodCard(
    m: MethodPrefs,
    said: RwSignal<Option<Said>>,
    texts_changed: RwSignal<u32>,
    /// Whether the page has hydrated, so that a change can be saved.
    ready: RwSignal<bool>,
) -> impl IntoView {
    let MethodPrefs {
        id,
        label,
        kind,
        household_phone,
        reasons,
        texts,
    } = m;
    let toggles = reasons
        .into_iter()
        .map(|r| {
            let toggle = Toggle {
                method: id,
                method_label: label.clone(),
                reason: r.reason.clone(),
                reason_label: r.label.clone(),
                checked: RwSignal::new(r.enabled),
                pending: RwSignal::new(false),
            };
            let input_id = format!("pref-{}-{}", id, r.reason);
            if r.required {
                view! {
                    <li class="required">
                        <input type="checkbox" id=input_id.clone() checked disabled aria-describedby="why-required" />
                        <label for=input_id>{r.label}</label>
                        <span class="hint">" Always on: required by your district"</span>
                    </li>
                }
                .into_any()
            } else {
                let t = toggle.clone();
                view! {
                    <li>
                        <input type="checkbox" id=input_id.clone() name=r.reason.clone()
                            checked=r.enabled
                            prop:checked=toggle.checked
                            disabled=move || !ready.get() || toggle.pending.get()
                            on:change=move |ev| t.clone().save(event_target_checked(&ev), said) />
                        <label for=input_id>{r.label}</label>
                    </li>
                }
                .into_any()
            }
        })
        .collect_view();
    view! {
        <fieldset class="method-prefs" data-testid="method">
            <legend>
                <h2>
                    <span class="method-label">{label.clone()}</span>
                    <span class="muted">{format!(" · {kind}")}</span>
                </h2>
            </legend>
            {household_phone.then(|| view! {
                <p class="hint">"Your household's phone: changes here apply to everyone in your household."</p>
            })}
            <ul class="reasons">{toggles}</ul>
            <Texts method=id texts said texts_changed ready />
        </fieldset>
    }
}

/// Text-message consent for one phone.
#[component]
fn Texts(
    method: Uuid,
    texts: TextsPref,
    said: RwSignal<Option<Said>>,
    texts_changed: RwSignal<u32>,
    ready: RwSignal<bool>,
) -> impl IntoView {
    let change = Action::new(move |on: &bool| {
        let on = *on;
        async move {
            let result = set_my_texts(method, on).await;
            said.set(Some(match &result {
                Ok(()) if on => Said {
                    text: "Text messages are on for this phone.".into(),
                    error: false,
                    undo: None,
                },
                Ok(()) => Said {
                    text: "Text messages are off for this phone.".into(),
                    error: false,
                    undo: None,
                },
                Err(e) => Said {
                    text: e.to_string(),
                    error: true,
                    undo: None,
                },
            }));
            if result.is_ok() {
                texts_changed.update(|n| *n += 1);
            }
        }
    });
    match texts {
        TextsPref::NotOffered => ().into_any(),
        TextsPref::Off { wording } => view! {
            <div class="texts">
                <h3 class="texts-title">"Text messages: off"</h3>
                <p class="consent-wording">{wording}</p>
                <button type="button" disabled=move || !ready.get() || change.pending().get()
                    on:click=move |_| { change.dispatch(true); }>"I agree: turn on text messages"</button>
            </div>
        }
        .into_any(),
        TextsPref::On { since, wording } => view! {
            <div class="texts">
                <h3 class="texts-title">{format!("Text messages: on since {since}")}</h3>
                <p class="consent-wording muted">{format!("You agreed: “{wording}”")}</p>
                <button type="button" class="secondary" disabled=move || !ready.get() || change.pending().get()
                    on:click=move |_| { change.dispatch(false); }>"Turn off text messages"</button>
            </div>
        }
        .into_any(),
    }
}
