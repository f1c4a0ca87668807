//! Email Preferences: the SMTP server Herald sends through, the From / Reply-To addresses, and
//! the portal URL merged into messages (and the base of unsubscribe links).
//!
//! Above the form, what the SMTP server has refused since the settings were saved (a wrong
//! password, no relaying), with how many emails wait on it: those emails go out once it takes
//! them, so this is where an admin learns what to fix.
//!
//! What must stay true: the stored password is never sent to the browser (the page only learns
//! whether one is set); fields an ops engineer pinned in the environment are shown as such,
//! because saving them here changes nothing until the override is removed.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::admin::prefs_form::{self, FormSecret, Secret, pinned_note};
use crate::error::AppError;
use crate::ui::{ErrorAlert, Loaded};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPrefsForm {
    pub smtp_host: String,
    pub smtp_port: String,
    pub tls: String,
    pub username: String,
    /// Empty: keep the stored password.
    pub password: FormSecret,
    pub clear_password: bool,
    pub from_address: String,
    pub from_name: String,
    pub reply_to: String,
    pub portal_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPrefsView {
    pub form: EmailPrefsForm,
    pub password_set: bool,
    pub overridden: Vec<String>,
    pub trouble: Option<RelayTroubleView>,
}

/// The SMTP server's refusals since the settings were saved, ready to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayTroubleView {
    /// What to fix, in words.
    pub headline: String,
    /// `3 times since these settings were saved, last at Nov 23, 2026 3:05 PM`.
    pub when: String,
    /// The server's words.
    pub detail: String,
    /// `1,204 emails are waiting and go out once the server takes them.`
    pub waiting: String,
}

#[server(endpoint = "load_email_prefs")]
pub async fn load_email_prefs() -> Result<EmailPrefsView, AppError> {
    use herald_core::messaging::email_preferences;
    let state = crate::auth::ssr::admin().await?.0.state;
    let p = email_preferences::load(&state.pool)
        .await
        .map_err(|e| AppError::internal("email preferences", &e))?;
    let overridden = state
        .settings
        .smtp
        .pinned()
        .into_iter()
        .map(String::from)
        .collect();
    let trouble = email_preferences::relay_trouble(&state.pool)
        .await
        .map_err(|e| AppError::internal("email preferences", &e))?;
    let trouble = match trouble {
        Some(t) => {
            let tz = herald_core::directory::time_zone(&state.pool)
                .await
                .map_err(|e| AppError::internal("email preferences", &e))?;
            Some(relay_trouble_view(&t, tz))
        }
        None => None,
    };
    Ok(EmailPrefsView {
        form: EmailPrefsForm {
            smtp_host: p.smtp_host,
            smtp_port: p.smtp_port.to_string(),
            tls: p.tls.as_str().into(),
            username: p.username.unwrap_or_default(),
            password: FormSecret::default(),
            clear_password: false,
            from_address: p.from_address,
            from_name: p.from_name,
            reply_to: p.reply_to.unwrap_or_default(),
            portal_url: p.portal_url,
        },
        password_set: p.password_set,
        overridden,
        trouble,
    })
}

/// The page's words for the SMTP server's refusals.
#[cfg(feature = "ssr")]
fn relay_trouble_view(
    t: &herald_core::messaging::email_preferences::RelayTrouble,
    tz: chrono_tz::Tz,
) -> RelayTroubleView {
    let plural = |n: i64, one: &str, many: &str| {
        if n == 1 {
            one.to_string()
        } else {
            format!("{n} {many}")
        }
    };
    RelayTroubleView {
        headline: match t.cause.as_str() {
            "credentials" => "The SMTP server refuses Herald's sign-in: check the username and password",
            "configuration" => "The SMTP server refuses to relay Herald's email: check the host, port, TLS and From address, and that the server allows relay from Herald",
            _ => "The SMTP server cannot be reached: check that it runs, and the host and port",
        }
        .into(),
        when: format!(
            "{} since these settings were saved, last on {}",
            plural(t.refusals, "once", "times"),
            crate::format::when(t.last_at, tz)
        ),
        detail: t.detail.clone(),
        waiting: match t.waiting {
            0 => "No emails are waiting.".into(),
            n => format!(
                "{} waiting; {} out once the server takes {}.",
                plural(n, "One email is", "emails are"),
                if n == 1 { "it goes" } else { "they go" },
                if n == 1 { "it" } else { "them" }
            ),
        },
    }
}

#[server(endpoint = "save_email_prefs", input = leptos::server_fn::codec::Json)]
pub async fn save_email_prefs(form: EmailPrefsForm) -> Result<(), AppError> {
    use herald_core::messaging::email_preferences::{
        self, EmailPreferencesError, EmailPreferencesUpdate, TlsMode,
    };
    let crate::auth::ssr::Caller { state, session, .. } = crate::auth::ssr::admin().await?.0;
    let port: u16 = form.smtp_port.trim().parse().map_err(|_| {
        AppError::Invalid(format!(
            "SMTP port: '{}' is not a port number.",
            form.smtp_port
        ))
    })?;
    let tls = TlsMode::parse(&form.tls)
        .ok_or_else(|| AppError::Invalid("TLS: choose none, STARTTLS or TLS.".into()))?;
    let password = if form.clear_password {
        Some(secrecy::SecretString::from(String::new()))
    } else if form.password.expose().is_empty() {
        None
    } else {
        Some(secrecy::SecretString::from(
            form.password.expose().to_string(),
        ))
    };
    let update = EmailPreferencesUpdate {
        smtp_host: form.smtp_host,
        smtp_port: port,
        tls,
        username: Some(form.username),
        password,
        from_address: form.from_address,
        from_name: form.from_name,
        reply_to: Some(form.reply_to),
        portal_url: form.portal_url,
    };
    email_preferences::save(&state.pool, &update, &state.settings.secrets)
        .await
        .map_err(|e| match e {
            EmailPreferencesError::Invalid { field, problem } => {
                AppError::Invalid(format!("{field}: {problem}."))
            }
            EmailPreferencesError::Db(e) => AppError::internal("save email preferences", &e),
        })?;
    tracing::info!(by = %session.account.email, "email preferences saved");
    Ok(())
}

/// `/admin/preferences/email`.
#[component]
pub fn EmailPrefsPage() -> impl IntoView {
    let loaded = Resource::new(|| (), |_| load_email_prefs());
    view! {
        <h1>"Email Preferences"</h1>
        <Loaded resource=loaded let:v>
            <PrefsForm view=v />
        </Loaded>
    }
}

#[component]
fn PrefsForm(view: EmailPrefsView) -> impl IntoView {
    let form = RwSignal::new(view.form);
    let save = Action::new(|f: &EmailPrefsForm| save_email_prefs(f.clone()));
    let field =
        move |label, name, kind, get, set| prefs_form::field(form, label, name, kind, get, set);
    let overridden = view.overridden.clone();
    view! {
        {view.trouble.map(|trouble| view! { <RelayTrouble trouble /> })}
        {pinned_note(overridden)}
        <form class="prefs" on:submit=move |ev| { ev.prevent_default(); save.dispatch(form.get_untracked()); }>
            <fieldset>
                <legend>"SMTP server"</legend>
                {field("SMTP host", "smtp_host", "text", |f| f.smtp_host.clone(), |f, v| f.smtp_host = v)}
                {field("SMTP port", "smtp_port", "number", |f| f.smtp_port.clone(), |f, v| f.smtp_port = v)}
                <label>"TLS"
                    <select name="tls" on:change=move |ev| { let v = event_target_value(&ev); form.update(|f| f.tls = v); }>
                        {crate::choices::TLS_MODES.into_iter().map(|(v, l)| view! {
                            <option value=v selected=move || form.with(|f| f.tls == v)>{l}</option>
                        }).collect_view()}
                    </select>
                </label>
                {field("Username", "username", "text", |f| f.username.clone(), |f, v| f.username = v)}
                {prefs_form::secret_field(form, view.password_set, Secret {
                    label: "Password",
                    name: "password",
                    what: "password",
                    get: |f| f.password.expose().to_string(),
                    set: |f, v| f.password = v.into(),
                    clear: |f, on| f.clear_password = on,
                })}
            </fieldset>
            <fieldset>
                <legend>"Sender"</legend>
                {field("From address", "from_address", "email", |f| f.from_address.clone(), |f, v| f.from_address = v)}
                {field("From name", "from_name", "text", |f| f.from_name.clone(), |f, v| f.from_name = v)}
                {field("Reply-To address (optional)", "reply_to", "email", |f| f.reply_to.clone(), |f, v| f.reply_to = v)}
                {field("Portal URL", "portal_url", "text", |f| f.portal_url.clone(), |f, v| f.portal_url = v)}
                <p class="hint">"Parents sign in at the portal URL; it is merged as {{portal_url}} and unsubscribe links point to its site."</p>
            </fieldset>
            {move || save.value().get().map(|r| match r {
                Ok(()) => view! { <p class="ok" role="status">"Saved. Workers use the new settings for their next batch."</p> }.into_any(),
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
            })}
            <button type="submit" class="primary" disabled=move || save.pending().get()>"Save"</button>
        </form>
    }
}

/// What the SMTP server refused since the settings were saved.
#[component]
fn RelayTrouble(trouble: RelayTroubleView) -> impl IntoView {
    view! {
        <section class="trouble" aria-labelledby="relay-trouble">
            <h2 id="relay-trouble" class="warning">{trouble.headline}</h2>
            <p>"The server refused Herald " {trouble.when} ": " <q>{trouble.detail}</q></p>
            <p>{trouble.waiting}</p>
        </section>
    }
}
