//! The Utilization Report wizard (Messenger → Reports → Utilization): a start date, an end date,
//! emails or phone calls, CSV or HTML; **Generate Extract** opens the extract (served by the
//! server's `exports`) in a new window in the chosen format.
//!
//! What must stay true: the page only builds the link; the extract checks the session and every
//! field again, and names the field it refuses.

use leptos::prelude::*;

use crate::ui::Loaded;

#[server(endpoint = "utilization_defaults")]
pub async fn utilization_defaults() -> Result<(String, String), crate::error::AppError> {
    use chrono::Datelike;

    let state = crate::auth::ssr::admin().await?.0.state;
    let tz = herald_core::directory::time_zone(&state.pool).await?;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let first = today.with_day(1).unwrap_or(today);
    Ok((first.to_string(), today.to_string()))
}

/// `/admin/messenger/reports/utilization`.
#[component]
pub fn UtilizationPage() -> impl IntoView {
    let defaults = Resource::new(|| (), |_| utilization_defaults());
    view! {
        <h1>"Utilization Report"</h1>
        <p class="hint">"The district's emails or phone calls by day and by school, from each message's own delivery counts."</p>
        <Loaded resource=defaults let:dates>
            <Wizard first=dates.0 today=dates.1 />
        </Loaded>
    }
}

#[component]
fn Wizard(first: String, today: String) -> impl IntoView {
    let start = RwSignal::new(first);
    let end = RwSignal::new(today);
    let sent_to = RwSignal::new("email".to_string());
    let format = RwSignal::new("csv".to_string());
    let href = move || {
        format!(
            "/admin/messenger/reports/utilization/extract?start={}&end={}&sent_to={}&format={}",
            start.get(),
            end.get(),
            sent_to.get(),
            format.get()
        )
    };
    view! {
        <div class="prefs">
            <fieldset>
                <legend>"Extract"</legend>
                <label>"Start Date" <input type="date" prop:value=move || start.get() on:change=move |ev| start.set(event_target_value(&ev)) /></label>
                <label>"End Date" <input type="date" prop:value=move || end.get() on:change=move |ev| end.set(event_target_value(&ev)) /></label>
                <label>"Messages Sent To"
                    <select prop:value=move || sent_to.get() on:change=move |ev| sent_to.set(event_target_value(&ev))>
                        <option value="email">"Email"</option>
                        <option value="phone">"Phone"</option>
                    </select>
                </label>
                <label>"Format"
                    <select prop:value=move || format.get() on:change=move |ev| format.set(event_target_value(&ev))>
                        <option value="csv">"CSV"</option>
                        <option value="html">"HTML"</option>
                    </select>
                </label>
            </fieldset>
            <p>
                <a class="button primary" href=href target="_blank" rel="noopener">
                    "Generate Extract"<span class="visually-hidden">" (opens in a new window)"</span>
                </a>
            </p>
        </div>
    }
}
