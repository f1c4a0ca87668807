//! Roster Import: a district admin uploads a OneRoster zip and watches it load, with a progress
//! bar, then sees the summary — or every bad row, by file, line and field, with nothing written.
//!
//! What must stay true: the upload returns at once with an import id; the import itself runs on
//! the server in one transaction (see `herald_core::roster`), and its progress lives in the
//! [`ImportRegistry`] of the server process that runs it.

use leptos::prelude::*;
use leptos::server_fn::codec::{MultipartData, MultipartFormData};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ui::ErrorAlert;

/// Where an import stands, as the page polls it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportState {
    pub stage: String,
    pub percent: u8,
    pub outcome: Option<ImportOutcome>,
}

/// How an import ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ImportOutcome {
    /// Loaded; the summary table, one line per table.
    Loaded(Vec<String>),
    /// Nothing was written; every problem found.
    Rejected(Vec<String>),
}

/// The imports this server process is running or has finished, by id.
#[cfg(feature = "ssr")]
#[derive(Clone, Default)]
pub struct ImportRegistry(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<uuid::Uuid, ImportState>>>,
);

#[cfg(feature = "ssr")]
impl ImportRegistry {
    fn set(&self, id: uuid::Uuid, status: ImportState) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(id, status);
        }
    }

    fn get(&self, id: &uuid::Uuid) -> Option<ImportState> {
        self.0.lock().ok().and_then(|map| map.get(id).cloned())
    }
}

/// Receives a OneRoster zip and starts importing it; returns the import id to poll.
#[server(input = MultipartFormData, endpoint = "upload_roster")]
pub async fn upload_roster(data: MultipartData) -> Result<uuid::Uuid, AppError> {
    let state = crate::auth::ssr::admin().await?.0.state;
    let mut form = data
        .into_inner()
        .ok_or_else(|| AppError::Malformed("the upload is not a multipart form.".into()))?;
    let limits = &state.settings.import;
    let max_upload = limits.max_upload_mb.saturating_mul(1024 * 1024);
    let mut bytes = Vec::new();
    while let Ok(Some(mut field)) = form.next_field().await {
        if field.name() != Some("roster") {
            continue;
        }
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| AppError::Malformed(format!("the upload was interrupted: {e}.")))?
        {
            // Counted as it arrives: the multipart stream is not under axum's body limit.
            if (bytes.len() + chunk.len()) as u64 > max_upload {
                return Err(AppError::TooLarge(format!(
                    "The file is larger than the {} MB Herald accepts for a roster upload.",
                    limits.max_upload_mb
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
    }
    if bytes.is_empty() {
        return Err(AppError::Invalid(
            "Choose a OneRoster .zip file to import.".into(),
        ));
    }
    let max_unzipped = limits.max_unzipped_mb.saturating_mul(1024 * 1024);
    let id = uuid::Uuid::new_v4();
    let registry = state.imports.clone();
    registry.set(
        id,
        ImportState {
            stage: "Queued".into(),
            percent: 0,
            outcome: None,
        },
    );
    tokio::spawn(async move {
        let progress_registry = registry.clone();
        let progress = move |p: herald_core::oneroster::ImportProgress| {
            progress_registry.set(
                id,
                ImportState {
                    stage: p.stage,
                    percent: p.percent,
                    outcome: None,
                },
            );
        };
        let outcome = match herald_core::oneroster::import_zip_bytes(
            &state.pool,
            bytes,
            max_unzipped,
            &progress,
        )
        .await
        {
            Ok(summary) => {
                ImportOutcome::Loaded(summary.to_string().lines().map(str::to_string).collect())
            }
            Err(e @ herald_core::oneroster::ImportError::Invalid { .. }) => {
                ImportOutcome::Rejected(e.problem_lines())
            }
            Err(
                e @ (herald_core::oneroster::ImportError::Zip(_)
                | herald_core::oneroster::ImportError::TooLarge { .. }),
            ) => ImportOutcome::Rejected(vec![e.to_string()]),
            Err(e) => {
                let _ = AppError::internal("roster import", &e);
                ImportOutcome::Rejected(vec![AppError::Unavailable.to_string()])
            }
        };
        registry.set(
            id,
            ImportState {
                stage: "Finished".into(),
                percent: 100,
                outcome: Some(outcome),
            },
        );
    });
    Ok(id)
}

/// The progress of an import started by [`upload_roster`].
#[server(endpoint = "import_status")]
pub async fn import_status(id: uuid::Uuid) -> Result<ImportState, AppError> {
    let state = crate::auth::ssr::admin().await?.0.state;
    state.imports.get(&id).ok_or(AppError::NotFound)
}

/// `/admin/roster-import`.
#[component]
pub fn ImportPage() -> impl IntoView {
    let import_id = RwSignal::new(None::<uuid::Uuid>);
    let status = RwSignal::new(None::<ImportState>);
    let error = RwSignal::new(None::<AppError>);

    let upload = Action::new_local(|data: &web_sys::FormData| upload_roster(data.clone().into()));

    Effect::new(move |_| {
        if let Some(result) = upload.value().get() {
            match result {
                Ok(id) => {
                    error.set(None);
                    status.set(None);
                    import_id.set(Some(id));
                }
                Err(e) => error.set(Some(e)),
            }
        }
    });

    // Poll the import's progress every 300 ms until it finishes.
    let poller = StoredValue::new(None::<IntervalHandle>);
    Effect::new(move |_| {
        let Some(id) = import_id.get() else { return };
        if let Some(old) = poller.get_value() {
            old.clear();
        }
        let tick = move || {
            leptos::task::spawn_local(async move {
                let result = import_status(id).await;
                let finished = !matches!(&result, Ok(s) if s.outcome.is_none());
                match result {
                    Ok(s) => status.set(Some(s)),
                    Err(e) => error.set(Some(e)),
                }
                if finished && let Some(handle) = poller.get_value() {
                    handle.clear();
                }
            });
        };
        if let Ok(handle) = set_interval_with_handle(tick, std::time::Duration::from_millis(300)) {
            poller.set_value(Some(handle));
        }
    });

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(form) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
            else {
                return;
            };
            match web_sys::FormData::new_with_form(&form) {
                Ok(data) => {
                    upload.dispatch_local(data);
                }
                Err(_) => error.set(Some(AppError::Invalid(
                    "Could not read the chosen file.".into(),
                ))),
            }
        }
    };

    view! {
        <h1>"Roster Import"</h1>
        <p>"Upload a OneRoster 1.1 or 1.2 CSV zip (orgs, academicSessions, courses, classes, users, enrollments, lineItems, results, demographics). "
           "Re-importing the same file changes nothing; a bad row stops the whole import and nothing is written."</p>
        <form class="upload" on:submit=on_submit>
            <label>"OneRoster zip " <input type="file" name="roster" accept=".zip,application/zip" required /></label>
            <button type="submit" disabled=move || upload.pending().get()>"Import"</button>
        </form>
        {move || error.get().map(|error| view! { <ErrorAlert error /> })}
        {move || status.get().map(|s| view! {
            <div class="import-status" aria-live="polite">
                <label>
                    {s.stage.clone()}
                    <progress max="100" value=s.percent>{format!("{}%", s.percent)}</progress>
                </label>
                {match s.outcome {
                    Some(ImportOutcome::Loaded(lines)) => view! {
                        <h2>"Imported"</h2>
                        <pre class="summary">{lines.join("\n")}</pre>
                    }.into_any(),
                    Some(ImportOutcome::Rejected(rows)) => view! {
                        <h2>"Nothing was imported"</h2>
                        <p>"Fix these rows and upload the file again:"</p>
                        <ul class="row-errors">{rows.into_iter().map(|r| view! { <li>{r}</li> }).collect_view()}</ul>
                    }.into_any(),
                    None => ().into_any(),
                }}
            </div>
        })}
    }
}
