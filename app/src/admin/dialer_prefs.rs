//! Dialer Preferences: the voice provider account Herald places calls with, the caller ID and
//! voice, the district's calling hours, pacing and retries, and the error email list.
//!
//! What must stay true: the stored auth token is never sent to the browser (the page only learns
//! whether one is set); fields pinned by the server's environment are shown as such.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::admin::prefs_form::{self, FormSecret, Secret, pinned_note};
use crate::error::AppError;
use crate::ui::{ErrorAlert, Loaded};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialerPrefsForm {
    pub api_url: String,
    pub account_sid: String,
    /// Empty: keep the stored token.
    pub auth_token: FormSecret,
    pub clear_token: bool,
    pub from_number: String,
    pub voice: String,
    pub calls_per_second: String,
    pub calling_from: String,
    pub calling_until: String,
    pub ring_seconds: String,
    pub retry_minutes: String,
    pub max_calls: String,
    pub leave_voicemail: bool,
    pub error_emails: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialerPrefsView {
    pub form: DialerPrefsForm,
    pub token_set: bool,
    pub overridden: Vec<String>,
    /// (voice, label) pairs.
    pub voices: Vec<(String, String)>,
    /// Where the provider posts status callbacks.
    pub callback_url: String,
}

#[server(endpoint = "load_dialer_prefs")]
pub async fn load_dialer_prefs() -> Result<DialerPrefsView, AppError> {
    use herald_core::dialer::{callback, preferences};
    use herald_core::messaging::email_preferences;
    let state = crate::auth::ssr::admin().await?.0.state;
    let p = preferences::load(&state.pool)
        .await
        .map_err(|e| AppError::internal("dialer preferences", &e))?;
    let portal = email_preferences::portal_url(&state.pool, &state.settings.smtp)
        .await
        .map_err(|e| AppError::internal("portal url", &e))?;
    Ok(DialerPrefsView {
        form: DialerPrefsForm {
            api_url: p.api_url,
            account_sid: p.account_sid.unwrap_or_default(),
            auth_token: FormSecret::default(),
            clear_token: false,
            from_number: p.from_number.unwrap_or_default(),
            voice: p.voice,
            calls_per_second: p.calls_per_second.to_string(),
            calling_from: p.calling_from.format("%H:%M").to_string(),
            calling_until: p.calling_until.format("%H:%M").to_string(),
            ring_seconds: p.ring_seconds.to_string(),
            retry_minutes: p.retry_minutes.to_string(),
            max_calls: p.max_calls.to_string(),
            leave_voicemail: p.leave_voicemail,
            error_emails: p.error_emails.join("\n"),
        },
        token_set: p.auth_token_set,
        overridden: state
            .settings
            .dialer
            .pinned()
            .into_iter()
            .map(String::from)
            .collect(),
        voices: preferences::VOICES
            .iter()
            .map(|(v, l, _)| ((*v).to_string(), (*l).to_string()))
            .collect(),
        callback_url: format!("{}{}", email_preferences::origin(&portal), callback::PATH),
    })
}

#[cfg(feature = "ssr")]
fn number<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, AppError> {
    raw.trim()
        .parse()
        .map_err(|_| AppError::Invalid(format!("{field}: '{}' is not a number.", raw.trim())))
}

#[server(endpoint = "save_dialer_prefs", input = leptos::server_fn::codec::Json)]
pub async fn save_dialer_prefs(form: DialerPrefsForm) -> Result<(), AppError> {
    use herald_core::dialer::preferences::{self, DialerPreferencesError, DialerPreferencesUpdate};
    let crate::auth::ssr::Caller { state, session, .. } = crate::auth::ssr::admin().await?.0;
    let auth_token = if form.clear_token {
        Some(secrecy::SecretString::from(String::new()))
    } else if form.auth_token.expose().trim().is_empty() {
        None
    } else {
        Some(secrecy::SecretString::from(
            form.auth_token.expose().to_string(),
        ))
    };
    let update = DialerPreferencesUpdate {
        api_url: form.api_url,
        account_sid: form.account_sid,
        auth_token,
        from_number: form.from_number,
        voice: form.voice,
        calls_per_second: number("Calls per second", &form.calls_per_second)?,
        calling_from: form.calling_from,
        calling_until: form.calling_until,
        ring_seconds: number("Ring time", &form.ring_seconds)?,
        retry_minutes: number("Call again after", &form.retry_minutes)?,
        max_calls: number("Calls per number", &form.max_calls)?,
        leave_voicemail: form.leave_voicemail,
        error_emails: form.error_emails,
    };
    preferences::save(&state.pool, &update, &state.settings.secrets)
        .await
        .map_err(|e| match e {
            DialerPreferencesError::Invalid { field, problem } => {
                AppError::Invalid(format!("{field}: {problem}."))
            }
            e => AppError::internal("save dialer preferences", &e),
        })?;
    tracing::info!(by = %session.account.email, "dialer preferences saved");
    Ok(())
}

/// `/admin/preferences/dialer`.
#[component]
pub fn DialerPrefsPage() -> impl IntoView {
    let loaded = Resource::new(|| (), |_| load_dialer_prefs());
    view! {
        <h1>"Dialer Preferences"</h1>
        <Loaded resource=loaded let:v>
            <PrefsForm view=v />
        </Loaded>
    }
}

#[component]
fn PrefsForm(view: DialerPrefsView) -> impl IntoView {
    let form = RwSignal::new(view.form);
    let save = Action::new(|f: &DialerPrefsForm| save_dialer_prefs(f.clone()));
    let field =
        move |label, name, kind, get, set| prefs_form::field(form, label, name, kind, get, set);
    let overridden = view.overridden.clone();
    let voices = view.voices.clone();
    view! {
        {pinned_note(overridden)}
        <form class="prefs" on:submit=move |ev| { ev.prevent_default(); save.dispatch(form.get_untracked()); }>
            <fieldset>
                <legend>"Voice provider"</legend>
                {field("API URL", "api_url", "text", |f| f.api_url.clone(), |f, v| f.api_url = v)}
                <p class="hint">"Twilio: https://api.twilio.com. Any provider speaking Twilio's Programmable Voice API works (SignalWire: https://YOUR-SPACE.signalwire.com/api/laml)."</p>
                {field("Account SID", "account_sid", "text", |f| f.account_sid.clone(), |f, v| f.account_sid = v)}
                {prefs_form::secret_field(form, view.token_set, Secret {
                    label: "Auth token",
                    name: "auth_token",
                    what: "token",
                    get: |f| f.auth_token.expose().to_string(),
                    set: |f, v| f.auth_token = v.into(),
                    clear: |f, on| f.clear_token = on,
                })}
                {field("Caller ID", "from_number", "tel", |f| f.from_number.clone(), |f, v| f.from_number = v)}
                <p class="hint">{format!("Status callbacks go to {} (the site of the portal URL in Email Preferences); the provider must be able to reach it.", view.callback_url)}</p>
            </fieldset>
            <fieldset>
                <legend>"Calls"</legend>
                <label>"Voice"
                    <select name="voice" on:change=move |ev| { let v = event_target_value(&ev); form.update(|f| f.voice = v); }>
                        {voices.into_iter().map(|(v, l)| {
                            let value = v.clone();
                            view! { <option value=v selected=move || form.with(|f| f.voice == value)>{l}</option> }
                        }).collect_view()}
                    </select>
                </label>
                {field("Calling hours from", "calling_from", "time", |f| f.calling_from.clone(), |f, v| f.calling_from = v)}
                {field("Calling hours until", "calling_until", "time", |f| f.calling_until.clone(), |f, v| f.calling_until = v)}
                <p class="hint">"In the district's time zone. A message's dial window can only narrow these hours; calls outside them wait for the next opening."</p>
                {field("Calls per second", "calls_per_second", "number", |f| f.calls_per_second.clone(), |f, v| f.calls_per_second = v)}
                <p class="hint">"Held across all workers together. Ask your provider what your account allows."</p>
                {field("Ring time (seconds)", "ring_seconds", "number", |f| f.ring_seconds.clone(), |f, v| f.ring_seconds = v)}
                {field("Call again after (minutes)", "retry_minutes", "number", |f| f.retry_minutes.clone(), |f, v| f.retry_minutes = v)}
                {field("Calls per number", "max_calls", "number", |f| f.max_calls.clone(), |f, v| f.max_calls = v)}
                <p class="hint">"A busy line or an unanswered call is tried again after the interval, up to this many calls in all."</p>
                <label class="inline"><input type="checkbox" name="leave_voicemail" prop:checked=move || form.with(|f| f.leave_voicemail)
                    on:change=move |ev| { let on = event_target_checked(&ev); form.update(|f| f.leave_voicemail = on); } />" Leave the message on answering machines (after the beep)"</label>
            </fieldset>
            <fieldset>
                <legend>"Error reports"</legend>
                <label>"Error email list (one address per line)"
                    <textarea name="error_emails" rows="3" prop:value=move || form.with(|f| f.error_emails.clone())
                        on:input=move |ev| { let v = event_target_value(&ev); form.update(|f| f.error_emails = v); }></textarea>
                </label>
                <p class="hint">"When calls cannot be placed for a reason a person must fix (credentials, caller ID, a provider outage), these addresses get one report per batch of errors."</p>
            </fieldset>
            {move || save.value().get().map(|r| match r {
                Ok(()) => view! { <p class="ok" role="status">"Saved. Workers dial with the new settings from their next batch."</p> }.into_any(),
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
            })}
            <button type="submit" class="primary" disabled=move || save.pending().get()>"Save"</button>
        </form>
    }
}
