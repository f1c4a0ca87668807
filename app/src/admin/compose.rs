//! Compose Message: write a message with merge fields, pick its type, audience and devices,
//! schedule it, preview it as any recipient, send a test to yourself, then send or schedule it.
//!
//! What must stay true: the page never queues anything itself. Every button calls a server
//! function that rebuilds the draft from the form and lets `herald_core::messaging::compose`
//! check it (templates, schedule) before a row is written; its error names the form field.
//! Dates are typed in the district's time zone.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::admin::ToolbarCalendar;
use crate::error::AppError;
use crate::ui::{ErrorAlert, Loaded, toggle};

/// The compose form, as the browser holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComposeForm {
    pub calendar_id: Option<String>,
    pub reason: String,
    pub audience: String,
    /// Every school of the calendar's school year.
    #[serde(default)]
    pub all_schools: bool,
    pub grades: Vec<String>,
    pub subject: String,
    pub body_html: String,
    pub body_text: String,
    pub inbox_text: String,
    pub voice_script: String,
    pub devices: Vec<String>,
    /// `YYYY-MM-DDTHH:MM` in the district's time zone; empty: now.
    pub start_at: String,
    pub email_at: String,
    /// `HH:MM`.
    pub dial_from: String,
    pub dial_until: String,
    pub confirm_to_sender: bool,
}

/// The audience part of the form, for the count and the recipient picker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AudienceChoice {
    pub calendar_id: Option<String>,
    pub audience: String,
    pub all_schools: bool,
    pub grades: Vec<String>,
}

/// Who the audience reaches, for the preview count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceSummary {
    pub people: i64,
    pub students: i64,
    pub with_email: i64,
    pub with_phone: i64,
    pub grades: Vec<String>,
    pub time_zone: String,
}

/// A member of the audience to preview as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: Uuid,
    pub name: String,
    pub students: String,
}

/// The message rendered for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
    pub inbox: String,
    pub voice: String,
}

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use chrono::{NaiveDateTime, NaiveTime, TimeZone, Utc};
    use herald_core::domain::{
        AudienceKind, CalendarId, ContactReason, Device, DialWindow, EmailAddress,
    };
    use herald_core::messaging::compose::{self, ComposeError, Draft, Sender};

    use super::ComposeForm;
    use crate::error::AppError;

    pub fn calendar(id: &Option<String>) -> Result<CalendarId, AppError> {
        id.as_deref().and_then(|c| c.parse().ok()).ok_or_else(|| {
            AppError::Invalid("Choose a school and calendar in the toolbar first.".into())
        })
    }

    pub fn audience_of(c: &super::AudienceChoice) -> Result<compose::Audience, AppError> {
        Ok(compose::Audience {
            kind: audience(&c.audience)?,
            calendar: calendar(&c.calendar_id)?,
            all_schools: c.all_schools,
            grades: c.grades.clone(),
        })
    }

    pub fn audience(a: &str) -> Result<AudienceKind, AppError> {
        match a {
            "guardians" | "" => Ok(AudienceKind::Guardians),
            "staff" => Ok(AudienceKind::Staff),
            other => Err(AppError::Invalid(format!(
                "Audience: '{other}' is not guardians or staff."
            ))),
        }
    }

    fn local(
        field: &str,
        s: &str,
        tz: chrono_tz::Tz,
    ) -> Result<Option<chrono::DateTime<Utc>>, AppError> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
            .map_err(|_| AppError::Invalid(format!("{field}: '{s}' is not a date and time.")))?;
        tz.from_local_datetime(&naive)
            .earliest()
            .map(|t| Some(t.with_timezone(&Utc)))
            .ok_or_else(|| {
                AppError::Invalid(format!(
                    "{field}: {s} does not exist in {tz} (a clock change)."
                ))
            })
    }

    fn time(field: &str, s: &str) -> Result<NaiveTime, AppError> {
        NaiveTime::parse_from_str(s.trim(), "%H:%M")
            .map_err(|_| AppError::Invalid(format!("{field}: '{s}' is not a time of day.")))
    }

    /// The draft the form describes; every error names its field.
    pub fn draft(f: &ComposeForm, tz: chrono_tz::Tz) -> Result<Draft, AppError> {
        let reason: ContactReason = f
            .reason
            .parse()
            .map_err(|e| AppError::Invalid(format!("Message type: {e}.")))?;
        let devices = f
            .devices
            .iter()
            .map(|d| {
                d.parse::<Device>()
                    .map_err(|e| AppError::Invalid(format!("Delivery devices: {e}.")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dial_window = if f.dial_from.trim().is_empty() && f.dial_until.trim().is_empty() {
            None
        } else {
            let from = time("Dial window from", &f.dial_from)?;
            let until = time("Dial window until", &f.dial_until)?;
            Some(
                DialWindow::new(from, until)
                    .map_err(|e| AppError::Invalid(format!("Dial window: {e}.")))?,
            )
        };
        let start_at = local("Start delivery on", &f.start_at, tz)?;
        if let Some(s) = start_at
            && s < Utc::now() - chrono::TimeDelta::minutes(1)
        {
            return Err(AppError::Invalid(
                "Start delivery on: that time has passed; leave it empty to send now.".into(),
            ));
        }
        Ok(Draft {
            reason,
            subject: f.subject.clone(),
            body_html: f.body_html.clone(),
            body_text: f.body_text.clone(),
            inbox_text: f.inbox_text.clone(),
            voice_script: f.voice_script.clone(),
            audience: audience(&f.audience)?,
            calendar_id: calendar(&f.calendar_id)?,
            all_schools: f.all_schools,
            grade_levels: f.grades.clone(),
            devices,
            start_at,
            email_at: local("Send emails at", &f.email_at, tz)?,
            dial_window,
            confirm_to_sender: f.confirm_to_sender,
        })
    }

    pub fn composed(f: &ComposeForm, tz: chrono_tz::Tz) -> Result<compose::Composed, AppError> {
        draft(f, tz)?.compose().map_err(|e| match e {
            ComposeError::Template(t) => AppError::Invalid(t.to_string()),
            other => AppError::Invalid(format!("{other}.")),
        })
    }

    pub fn sender(s: &herald_core::accounts::SessionAccount) -> Result<Sender, AppError> {
        Ok(Sender {
            account_id: s.account.id,
            name: s.account.display_name.clone(),
            email: EmailAddress::parse(&s.account.email).map_err(|_| {
                AppError::Invalid("Your account's email address is not valid.".into())
            })?,
        })
    }

    pub fn message_error(e: compose::MessageError) -> AppError {
        match e {
            compose::MessageError::UnknownCalendar => {
                AppError::Invalid("That calendar no longer exists.".into())
            }
            compose::MessageError::NotInAudience => AppError::Invalid(
                "That person is not in this audience; pick another to preview as.".into(),
            ),
            compose::MessageError::Db(e) => AppError::internal("compose", &e),
        }
    }
}

#[server(endpoint = "compose_audience", input = leptos::server_fn::codec::Json)]
pub async fn compose_audience(choice: AudienceChoice) -> Result<AudienceSummary, AppError> {
    let state = crate::auth::ssr::admin().await?.0.state;
    let audience = ssr::audience_of(&choice)?;
    let count = herald_core::messaging::compose::audience_count(&state.pool, &audience)
        .await
        .map_err(ssr::message_error)?;
    Ok(AudienceSummary {
        people: count.people,
        students: count.students,
        with_email: count.with_email,
        with_phone: count.with_phone,
        grades: herald_core::directory::grade_levels(&state.pool, audience.calendar).await?,
        time_zone: herald_core::directory::time_zone(&state.pool)
            .await?
            .to_string(),
    })
}

#[server(endpoint = "compose_members", input = leptos::server_fn::codec::Json)]
pub async fn compose_members(
    choice: AudienceChoice,
    query: String,
) -> Result<Vec<Member>, AppError> {
    let state = crate::auth::ssr::admin().await?.0.state;
    let audience = ssr::audience_of(&choice)?;
    let members =
        herald_core::messaging::compose::audience_members(&state.pool, &audience, &query, 30)
            .await
            .map_err(ssr::message_error)?;
    Ok(members
        .into_iter()
        .map(|m| Member {
            id: m.person_id.0,
            name: m.name,
            students: herald_core::messaging::template::english_list(&m.students),
        })
        .collect())
}

#[server(endpoint = "compose_preview", input = leptos::server_fn::codec::Json)]
pub async fn compose_preview(
    form: ComposeForm,
    person_id: Option<Uuid>,
) -> Result<Rendered, AppError> {
    use herald_core::domain::PersonId;
    use herald_core::messaging::{compose, email_preferences};
    let crate::auth::ssr::Caller { state, session, .. } = crate::auth::ssr::admin().await?.0;
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let composed = ssr::composed(&form, tz)?;
    let person = person_id
        .map(PersonId)
        .ok_or_else(|| AppError::Invalid("Pick someone to preview as.".into()))?;
    let portal_url = email_preferences::portal_url(&state.pool, &state.settings.smtp)
        .await
        .map_err(|e| AppError::internal("portal url", &e))?;
    let data = compose::merge_data_for(
        &state.pool,
        composed.draft(),
        person,
        &session.account.display_name,
        &portal_url,
    )
    .await
    .map_err(ssr::message_error)?;
    Ok(Rendered {
        subject: composed.subject.render(&data),
        html: composed.html.render_html(&data),
        text: composed.text.render(&data),
        inbox: composed.inbox.render(&data),
        voice: composed.voice.render(&data),
    })
}

/// Sends a test copy to the signed-in admin; returns the address it goes to.
#[server(endpoint = "compose_send_test", input = leptos::server_fn::codec::Json)]
pub async fn compose_send_test(
    form: ComposeForm,
    person_id: Option<Uuid>,
) -> Result<String, AppError> {
    let crate::auth::ssr::Caller { state, session, .. } = crate::auth::ssr::admin().await?.0;
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let composed = ssr::composed(&form, tz)?;
    let person = person_id
        .map(herald_core::domain::PersonId)
        .ok_or_else(|| {
            AppError::Invalid("Pick someone to preview as; the test is rendered as them.".into())
        })?;
    let sender = ssr::sender(&session)?;
    herald_core::messaging::compose::create_test(&state.pool, &composed, &sender, person)
        .await
        .map_err(ssr::message_error)?;
    Ok(sender.email.into_inner())
}

/// Sends (or schedules) the message; returns its id.
#[server(endpoint = "compose_send", input = leptos::server_fn::codec::Json)]
pub async fn compose_send(form: ComposeForm) -> Result<Uuid, AppError> {
    let crate::auth::ssr::Caller { state, session, .. } = crate::auth::ssr::admin().await?.0;
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let composed = ssr::composed(&form, tz)?;
    let sender = ssr::sender(&session)?;
    let id = herald_core::messaging::compose::create(&state.pool, &composed, &sender)
        .await
        .map_err(ssr::message_error)?;
    tracing::info!(message = %id, by = %sender.email, "message composed");
    Ok(id.0)
}

/// Renders the draft as one recipient (Preview), or sends that rendering to the admin (Send
/// test to me); the recipient is the one picked in the preview pane.
type AsRecipient<T> = Action<(ComposeForm, Option<Uuid>), Result<T, AppError>>;

/// The form as sent: always scoped to the toolbar's calendar at that moment.
fn as_sent(form: RwSignal<ComposeForm>, scope: RwSignal<Option<String>>) -> ComposeForm {
    let mut f = form.get_untracked();
    f.calendar_id = scope.get_untracked();
    f
}

/// A text field's value and its `on:input`, bound to one field of the form.
fn bind(
    form: RwSignal<ComposeForm>,
    get: fn(&ComposeForm) -> String,
    set: fn(&mut ComposeForm, String),
) -> (
    impl Fn() -> String + Copy + Send + Sync + 'static,
    impl Fn(leptos::ev::Event) + Copy + 'static,
) {
    (
        move || form.with(get),
        move |ev| {
            let v = event_target_value(&ev);
            form.update(|f| set(f, v));
        },
    )
}

/// `/admin/messenger/compose`.
#[component]
pub fn ComposePage() -> impl IntoView {
    let ToolbarCalendar(scope) = expect_context::<ToolbarCalendar>();
    let form = RwSignal::new(ComposeForm {
        reason: "general".into(),
        audience: "guardians".into(),
        devices: vec!["email".into(), "inbox".into()],
        subject: "A note from {{school}}".into(),
        body_html: "<p>Dear {{guardian}},</p>\n<p>…about {{student}}.</p>\n<p>Sign in to the portal: {{portal_url}}</p>\n<p>{{sender}}</p>".into(),
        ..ComposeForm::default()
    });
    let audience = Memo::new(move |_| {
        let calendar_id = scope.get();
        form.with(|f| AudienceChoice {
            calendar_id,
            audience: f.audience.clone(),
            all_schools: f.all_schools,
            grades: f.grades.clone(),
        })
    });
    let preview: AsRecipient<Rendered> =
        Action::new(|(f, p): &(ComposeForm, Option<Uuid>)| compose_preview(f.clone(), *p));
    let test: AsRecipient<String> =
        Action::new(|(f, p): &(ComposeForm, Option<Uuid>)| compose_send_test(f.clone(), *p));
    let send = Action::new(|f: &ComposeForm| compose_send(f.clone()));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = send.value().get() {
            navigate(
                &format!("/admin/messenger/messages/{id}"),
                Default::default(),
            );
        }
    });
    let error = move || {
        let e = [
            send.value().get().and_then(Result::err),
            test.value().get().and_then(Result::err),
            preview.value().get().and_then(Result::err),
        ];
        e.into_iter().flatten().next()
    };

    view! {
        <h1>"Compose Message"</h1>
        <div class="compose">
            <form class="compose-form" on:submit=move |ev| { ev.prevent_default(); send.dispatch(as_sent(form, scope)); }>
                <MessageFields form />
                <AudienceFields form audience />
                <DeliveryFields form />
                {move || error().map(|error| view! { <ErrorAlert error /> })}
                {move || test.value().get().and_then(Result::ok).map(|to| view! { <p class="ok" role="status">{format!("Test sent to {to}.")}</p> })}
                <div class="actions">
                    <button type="submit" class="primary" disabled=move || send.pending().get()>
                        {move || if form.with(|f| f.start_at.trim().is_empty()) { "Send now" } else { "Schedule" }}
                    </button>
                </div>
            </form>
            <PreviewPane form scope audience preview test />
        </div>
    }
}

/// The message: its type, subject, HTML body and merge fields, and the optional plain-text
/// email, portal notice and voice script.
#[component]
fn MessageFields(form: RwSignal<ComposeForm>) -> impl IntoView {
    let (subject, on_subject) = bind(form, |f| f.subject.clone(), |f, v| f.subject = v);
    let (body, on_body) = bind(form, |f| f.body_html.clone(), |f, v| f.body_html = v);
    let (plain, on_plain) = bind(form, |f| f.body_text.clone(), |f, v| f.body_text = v);
    let (inbox, on_inbox) = bind(form, |f| f.inbox_text.clone(), |f, v| f.inbox_text = v);
    let (voice, on_voice) = bind(form, |f| f.voice_script.clone(), |f, v| f.voice_script = v);
    view! {
        <fieldset>
            <legend>"Message"</legend>
            <label>"Message type"
                <select name="reason" on:change=move |ev| { let v = event_target_value(&ev); form.update(|f| f.reason = v); }>
                    {crate::choices::REASONS.into_iter().map(|(v, l)| view! { <option value=v selected=move || form.with(|f| f.reason == v)>{l}</option> }).collect_view()}
                </select>
            </label>
            <label>"Subject" <input name="subject" prop:value=subject on:input=on_subject maxlength="200" /></label>
            <label>"Message body (HTML email)" <textarea name="body_html" rows="8" prop:value=body on:input=on_body></textarea></label>
            <p class="hint">"Merge fields: " {crate::choices::MERGE_FIELDS.into_iter().map(|m| view! { <code>{format!("{{{{{m}}}}}")}</code> " " }).collect_view()}</p>
            <details>
                <summary>"Plain-text email, portal notice and voice script"</summary>
                <label>"Plain-text body (empty: made from the HTML)" <textarea name="body_text" rows="5" prop:value=plain on:input=on_plain></textarea></label>
                <label>"Portal notice (empty: the plain text)" <textarea name="inbox_text" rows="3" prop:value=inbox on:input=on_inbox></textarea></label>
                <label>"Voice script (phone)" <textarea name="voice_script" rows="3" prop:value=voice on:input=on_voice></textarea></label>
            </details>
        </fieldset>
    }
}

/// Who it goes to: guardians or staff, one school or all, some grades; and how many that is.
#[component]
fn AudienceFields(form: RwSignal<ComposeForm>, audience: Memo<AudienceChoice>) -> impl IntoView {
    let summary = Resource::new(move || audience.get(), compose_audience);
    view! {
        <fieldset>
            <legend>"Audience"</legend>
            <label class="inline"><input type="radio" name="audience" value="guardians" prop:checked=move || form.with(|f| f.audience == "guardians")
                on:change=move |_| form.update(|f| { f.audience = "guardians".into(); })/>" Guardians of students in this calendar"</label>
            <label class="inline"><input type="radio" name="audience" value="staff" prop:checked=move || form.with(|f| f.audience == "staff")
                on:change=move |_| form.update(|f| { f.audience = "staff".into(); f.grades.clear(); })/>" Staff with a district assignment"</label>
            <label class="inline"><input type="checkbox" name="all_schools" prop:checked=move || form.with(|f| f.all_schools)
                on:change=move |ev| { let on = event_target_checked(&ev); form.update(|f| f.all_schools = on); } />" Every school (district-wide)"</label>
            <Loaded resource=summary fallback=|| view! { <p class="muted">"Counting…"</p> } let:s>
                {(form.with_untracked(|f| f.audience == "guardians") && !s.grades.is_empty()).then(|| view! {
                    <div class="grades" role="group" aria-label="Grade levels">
                        <span>"Grades (none ticked: all)"</span>
                        {s.grades.iter().cloned().map(|g| {
                            let g2 = g.clone();
                            let label = format!(" {g}");
                            view! { <label class="inline"><input type="checkbox" prop:checked=move || form.with(|f| f.grades.contains(&g2))
                                on:change=move |ev| { let on = event_target_checked(&ev); let g = g.clone(); form.update(|f| toggle(&mut f.grades, g, on)); } />
                                {label}</label> }
                        }).collect_view()}
                    </div>
                })}
                <p class="audience-count" data-testid="audience-count">
                    <strong>{s.people}</strong>" recipients"
                    {(s.students > 0).then(|| format!(" (guardians of {} students)", s.students))}
                    " · "{s.with_email}" with email · "{s.with_phone}" with a phone"
                </p>
                <p class="hint">{format!("Times are in {}.", s.time_zone)}</p>
            </Loaded>
        </fieldset>
    }
}

/// How and when: the devices, the start, the email time, the dial window, the confirmation.
#[component]
fn DeliveryFields(form: RwSignal<ComposeForm>) -> impl IntoView {
    let (start, on_start) = bind(form, |f| f.start_at.clone(), |f, v| f.start_at = v);
    let (email_at, on_email_at) = bind(form, |f| f.email_at.clone(), |f, v| f.email_at = v);
    let (dial_from, on_dial_from) = bind(form, |f| f.dial_from.clone(), |f, v| f.dial_from = v);
    let (dial_until, on_dial_until) = bind(form, |f| f.dial_until.clone(), |f, v| f.dial_until = v);
    let has = move |d: &'static str| move || form.with(|f| f.devices.iter().any(|x| x == d));
    let tick = move |d: &'static str| {
        move |ev| {
            let on = event_target_checked(&ev);
            form.update(|f| toggle(&mut f.devices, d.to_string(), on));
        }
    };
    view! {
        <fieldset>
            <legend>"Delivery"</legend>
            {crate::choices::DEVICES.into_iter().map(|(d, label)| view! {
                <label class="inline"><input type="checkbox" name=format!("device-{d}") prop:checked=has(d) on:change=tick(d) />{format!(" {label}")}</label>
            }).collect_view()}
            <label>"Start delivery on (empty: now)" <input type="datetime-local" name="start_at" prop:value=start on:input=on_start /></label>
            <label>"Send emails at (optional)" <input type="datetime-local" name="email_at" prop:value=email_at on:input=on_email_at /></label>
            <div class="row">
                <label>"Dial window from" <input type="time" name="dial_from" prop:value=dial_from on:input=on_dial_from /></label>
                <label>"until" <input type="time" name="dial_until" prop:value=dial_until on:input=on_dial_until /></label>
            </div>
            <label class="inline"><input type="checkbox" name="confirm" prop:checked=move || form.with(|f| f.confirm_to_sender)
                on:change=move |ev| { let on = event_target_checked(&ev); form.update(|f| f.confirm_to_sender = on); } />" Send Confirmation Email to me when delivery finishes"</label>
        </fieldset>
    }
}

/// The preview: pick a recipient of the audience, render the message as them, or send that
/// rendering to yourself.
#[component]
fn PreviewPane(
    form: RwSignal<ComposeForm>,
    scope: RwSignal<Option<String>>,
    audience: Memo<AudienceChoice>,
    preview: AsRecipient<Rendered>,
    test: AsRecipient<String>,
) -> impl IntoView {
    let member_query = RwSignal::new(String::new());
    let members = Resource::new(
        move || (audience.get(), member_query.get()),
        |(c, q)| compose_members(c, q),
    );
    let preview_as = RwSignal::new(None::<Uuid>);
    view! {
        <aside class="compose-preview">
            <h2>"Preview"</h2>
            <label>"Find a recipient" <input type="search" placeholder="Name" prop:value=move || member_query.get() on:input=move |ev| member_query.set(event_target_value(&ev)) /></label>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                // Not `Loaded`: a search that fails leaves the picker empty, and Preview then
                // says what is missing (a calendar, someone to preview as) in the form's alert.
                {move || Suspend::new(async move {
                    let list = members.await.unwrap_or_default();
                    if preview_as.get_untracked().is_none() && let Some(first) = list.first() {
                        preview_as.set(Some(first.id));
                    }
                    view! {
                        <label>"Preview as"
                            <select name="preview_as" on:change=move |ev| preview_as.set(event_target_value(&ev).parse().ok())>
                                {list.into_iter().map(|m| {
                                    let id = m.id;
                                    view! { <option value=m.id.to_string() selected=move || preview_as.get() == Some(id)>{m.name}{(!m.students.is_empty()).then(|| format!(" — {}", m.students))}</option> }
                                }).collect_view()}
                            </select>
                        </label>
                    }
                })}
            </Suspense>
            <div class="actions">
                <button type="button" on:click=move |_| { preview.dispatch((as_sent(form, scope), preview_as.get_untracked())); }>"Preview"</button>
                <button type="button" disabled=move || test.pending().get() on:click=move |_| { test.dispatch((as_sent(form, scope), preview_as.get_untracked())); }>"Send test to me"</button>
            </div>
            {move || preview.value().get().and_then(Result::ok).map(|r| view! {
                <div class="rendered" data-testid="preview">
                    <p><strong>"Subject: "</strong>{r.subject}</p>
                    <iframe title="Email preview" sandbox="" srcdoc=r.html class="email-frame"></iframe>
                    <h3>"Plain text"</h3><pre>{r.text}</pre>
                    <h3>"Portal notice"</h3><pre>{r.inbox}</pre>
                    {(!r.voice.is_empty()).then(|| view! { <h3>"Voice script"</h3><pre>{r.voice}</pre> })}
                </div>
            })}
        </aside>
    }
}
