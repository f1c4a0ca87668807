//! Roster Import: a district admin uploads a OneRoster zip and watches it load, with a progress
//! bar, then sees the summary — or every bad row, by file, line and field, with nothing written.
//!
//! What must stay true: the upload returns at once with an import id; the import itself runs on
//! the server in one transaction (see `herald_core::oneroster`), and its progress lives in
//! PostgreSQL (`herald_core::oneroster::runs`), so any server answers the poll, and an import
//! whose server stopped says it was interrupted instead of going silent.

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
    /// The server running it stopped before it finished; nothing was written. The stage it had
    /// reached.
    Interrupted(String),
}

/// Receives a OneRoster zip and starts importing it; returns the import id to poll.
#[server(input = MultipartFormData, endpoint = "upload_roster")]
pub async fn upload_roster(data: MultipartData) -> Result<uuid::Uuid, AppError> {
    let admin = crate::auth::ssr::admin().await?.0;
    let state = admin.state;
    let admin = admin.session;
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
    use herald_core::oneroster::{self, ImportError, ImportProgress, runs};
    let id = runs::start(&state.pool, admin.account.id).await?;
    tokio::spawn(async move {
        let (report, progress) = tokio::sync::watch::channel(ImportProgress {
            stage: "Queued".into(),
            percent: 0,
        });
        let tracker = tokio::spawn(runs::track(state.pool.clone(), id, progress));
        let on_progress = move |p: ImportProgress| {
            report.send_replace(p);
        };
        let result =
            oneroster::import_zip_bytes(&state.pool, bytes, max_unzipped, &on_progress).await;
        drop(on_progress);
        let _ = tracker.await;
        let (outcome, lines) = match result {
            Ok(summary) => (
                runs::Outcome::Loaded,
                summary.to_string().lines().map(str::to_string).collect(),
            ),
            Err(e @ ImportError::Invalid { .. }) => (runs::Outcome::Rejected, e.problem_lines()),
            Err(e @ (ImportError::Zip(_) | ImportError::TooLarge { .. })) => {
                (runs::Outcome::Rejected, vec![e.to_string()])
            }
            Err(e) => {
                let _ = AppError::internal("roster import", &e);
                (
                    runs::Outcome::Rejected,
                    vec![AppError::Unavailable.to_string()],
                )
            }
        };
        if let Err(e) = runs::finish(&state.pool, id, outcome, &lines).await {
            let _ = AppError::internal("recording the roster import's outcome", &e);
        }
    });
    Ok(id)
}

/// The progress of an import started by [`upload_roster`].
#[server(endpoint = "import_status")]
pub async fn import_status(id: uuid::Uuid) -> Result<ImportState, AppError> {
    use herald_core::oneroster::runs::{self, Outcome, RunState};
    let state = crate::auth::ssr::admin().await?.0.state;
    Ok(
        match runs::state(&state.pool, id)
            .await?
            .ok_or(AppError::NotFound)?
        {
            RunState::Running { stage, percent } => ImportState {
                stage,
                percent,
                outcome: None,
            },
            RunState::Interrupted { stage, .. } => ImportState {
                stage: "Interrupted".into(),
                percent: 0,
                outcome: Some(ImportOutcome::Interrupted(stage)),
            },
            RunState::Finished(outcome, lines) => ImportState {
                stage: "Finished".into(),
                percent: 100,
                outcome: Some(match outcome {
                    Outcome::Loaded => ImportOutcome::Loaded(lines),
                    Outcome::Rejected => ImportOutcome::Rejected(lines),
                }),
            },
        },
    )
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
                    Some(ImportOutcome::Interrupted(stage)) => view! {
                        <h2>"The import was interrupted"</h2>
                        <p>{format!("The server running it stopped while it was at “{stage}”. Nothing was written: an import is all or nothing. Upload the file again.")}</p>
                    }.into_any(),
                    None => ().into_any(),
                }}
            </div>
        })}
    }
}
