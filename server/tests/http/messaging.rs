//! Message endpoints as a browser or a mail provider meets them: one-click unsubscribe (GET
//! changes nothing, POST from anywhere turns off exactly one reason, a tampered token does
//! nothing), compose refusing a bad template before anything is queued, and a message page saying
//! why its calls wait.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use herald_core::accounts::{self, Role};
use herald_core::domain::{ContactReason, EmailAddress};
use herald_core::messaging::unsubscribe::UnsubscribeKey;
use secrecy::SecretString;
use sqlx::PgPool;

use crate::support::{Reply, TestApp, give_a_child};
use herald_testing::db::TestDb;

/// An admin (admin@district.example, password "pw") and one school's calendar; returns the
/// admin's account and email, and the calendar.
async fn admin_and_calendar(
    pool: &PgPool,
) -> (herald_core::domain::AccountId, EmailAddress, uuid::Uuid) {
    let email = EmailAddress::parse("admin@district.example").unwrap();
    let account = accounts::create(
        pool,
        &email,
        "Ada Admin",
        &SecretString::from("pw".to_string()),
        Role::DistrictAdmin,
        None,
    )
    .await
    .unwrap();
    let calendar: uuid::Uuid = sqlx::query_scalar(
        "with d as (insert into district (sourced_id, name) values ('d', 'D') returning id),
              s as (insert into school (sourced_id, district_id, name) select 's', id, 'Lincoln' from d returning id)
         insert into calendar (school_id, school_year, name, start_date, end_date)
         select id, 2027, '2026-27', '2026-08-20', '2027-06-01' from s returning id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    (account, email, calendar)
}

async fn email_method(pool: &PgPool) -> uuid::Uuid {
    let person: uuid::Uuid = sqlx::query_scalar(
        "insert into person (sourced_id, kind, given_name, family_name) values ('g-1', 'guardian', 'Pat', 'Lee') returning id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query_scalar("insert into contact_method (person_id, email) values ($1, 'pat@home.example') returning id")
        .bind(person)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn preferences(pool: &PgPool) -> Vec<(String, bool)> {
    sqlx::query_as("select reason::text, enabled from contact_preference order by reason")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_an_unsubscribe_link_asks_first_and_changes_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let method = email_method(&pool).await;
    let token = UnsubscribeKey::load(&pool)
        .await
        .unwrap()
        .token(method, ContactReason::Attendance);
    let app = TestApp::spawn(pool.clone());
    let Reply { status, body, .. } = app
        .send(
            Request::get(format!("/unsubscribe/{token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(
            "Stop <strong>Attendance</strong> messages to <strong>p•••@home.example</strong>?"
        ),
        "{body}"
    );
    assert!(preferences(&pool).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_click_post_from_a_mail_provider_turns_off_exactly_that_reason() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let method = email_method(&pool).await;
    let token = UnsubscribeKey::load(&pool)
        .await
        .unwrap()
        .token(method, ContactReason::Attendance);
    let app = TestApp::spawn(pool.clone());
    // As RFC 8058 providers post: no cookie, an Origin that is not Herald's.
    let req = Request::post(format!("/unsubscribe/{token}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "https://mail.provider.example")
        .header(header::HOST, "herald.test")
        .body(Body::from("List-Unsubscribe=One-Click"))
        .unwrap();
    let Reply { status, body, .. } = app.send(req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(
            "<strong>Attendance</strong> messages will no longer be sent to <strong>p•••@home.example</strong>"
        ),
        "{body}"
    );
    assert!(body.contains(&format!("action=\"/unsubscribe/{token}/undo\"")));
    assert!(body.contains("href=\"/portal/preferences\""));
    assert_eq!(
        preferences(&pool).await,
        vec![("attendance".to_string(), false)]
    );
    // The change is on record: from the district default to off, by the unsubscribe link. A
    // second click changes nothing and records nothing.
    let Reply { status, .. } = app
        .send(
            Request::post(format!("/unsubscribe/{token}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::HOST, "herald.test")
                .body(Body::from("List-Unsubscribe=One-Click"))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let history: Vec<(String, Option<bool>, Option<bool>, String)> = sqlx::query_as(
        "select reason::text, old_enabled, new_enabled, changed_by from contact_preference_change
         where contact_method_id = $1",
    )
    .bind(method)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        history,
        vec![(
            "attendance".into(),
            None,
            Some(false),
            "unsubscribe link".into()
        )]
    );
    // The page's undo turns it back on, also on record.
    let Reply { status, body, .. } = app
        .send(
            Request::post(format!("/unsubscribe/{token}/undo"))
                .header(header::HOST, "herald.test")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("<strong>Attendance</strong> messages will reach"));
    assert_eq!(
        preferences(&pool).await,
        vec![("attendance".to_string(), true)]
    );
    let last: String = sqlx::query_scalar(
        "select changed_by from contact_preference_change order by id desc limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(last, "unsubscribe link, undone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_unsubscribe_token_changes_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let method = email_method(&pool).await;
    let mut token = UnsubscribeKey::load(&pool)
        .await
        .unwrap()
        .token(method, ContactReason::General);
    let last = token.pop().unwrap();
    token.push(if last == 'A' { 'B' } else { 'A' });
    let app = TestApp::spawn(pool.clone());
    let req = Request::post(format!("/unsubscribe/{token}"))
        .body(Body::from("List-Unsubscribe=One-Click"))
        .unwrap();
    let Reply { status, body, .. } = app.send(req).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("This link does not work"));
    assert!(preferences(&pool).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_refuses_an_unknown_merge_field_naming_the_field_and_queues_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let (_, _, calendar) = admin_and_calendar(&pool).await;
    let app = TestApp::spawn(pool.clone());
    let cookie = app.sign_in("admin@district.example", "pw").await;
    let form = serde_json::json!({ "form": {
        "calendar_id": calendar.to_string(), "reason": "general", "audience": "guardians", "grades": [],
        "subject": "Hello", "body_html": "<p>Dear {{guardain}}</p>", "body_text": "", "inbox_text": "",
        "voice_script": "", "devices": ["email"], "start_at": "", "email_at": "", "dial_from": "",
        "dial_until": "", "confirm_to_sender": false
    }});
    let req = Request::post("/api/compose_send")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, &cookie)
        .body(Body::from(form.to_string()))
        .unwrap();
    let Reply { status, body, .. } = app.send(req).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("Message body, line 1, column 9: unknown merge field 'guardain'"),
        "{body}"
    );
    let messages: i64 = sqlx::query_scalar("select count(*) from message")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(messages, 0);
}

/// A phone message to the admin's calendar, fanned out to one queued call, as a fan-out would
/// leave it. Returns its id.
async fn a_waiting_phone_message(pool: &PgPool) -> uuid::Uuid {
    use herald_core::domain::{AudienceKind, CalendarId, Device, DialWindow};
    use herald_core::messaging::compose::{self, Draft, Sender};
    let (account, email, calendar) = admin_and_calendar(pool).await;
    let window = DialWindow::new(
        chrono::NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
        chrono::NaiveTime::from_hms_opt(23, 59, 0).unwrap(),
    )
    .unwrap();
    let draft = Draft {
        reason: ContactReason::General,
        subject: "Snow day".into(),
        body_html: "<p>Closed</p>".into(),
        body_text: String::new(),
        inbox_text: String::new(),
        voice_script: "Schools are closed.".into(),
        audience: AudienceKind::Guardians,
        calendar_id: CalendarId(calendar),
        all_schools: false,
        grade_levels: vec![],
        devices: vec![Device::Phone],
        start_at: None,
        email_at: None,
        dial_window: Some(window),
        confirm_to_sender: false,
    };
    let sender = Sender {
        account_id: account,
        name: "Ada Admin".into(),
        email,
    };
    let id = compose::create(pool, &draft.compose().unwrap(), &sender)
        .await
        .unwrap();
    // As a fan-out would leave it: one phone job, counted.
    sqlx::query(
        "with m as (update message set fanned_out_at = now() where id = $1 returning id),
              t as (insert into message_tally (message_id, device, total) select id, 'phone', 1 from m)
         insert into delivery_job (message_id, device, target, due_at) select id, 'phone', '+16125550101', now() from m",
    )
    .bind(id.0)
    .execute(pool)
    .await
    .unwrap();
    id.0
}

/// Calls the server function `endpoint` with `id` as the signed-in admin; returns its body.
async fn call_with_id(app: &TestApp, cookie: &str, endpoint: &str, id: uuid::Uuid) -> String {
    let req = Request::post(format!("/api/{endpoint}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(format!("id={id}")))
        .unwrap();
    let Reply { status, body, .. } = app.send(req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_page_says_when_calls_wait_because_the_dialer_is_not_set_up() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let id = a_waiting_phone_message(&pool).await;
    let app = TestApp::spawn(pool.clone());
    let cookie = app.sign_in("admin@district.example", "pw").await;
    let body = call_with_id(&app, &cookie, "load_message_view", id).await;
    assert!(
        body.contains(
            "Calls: 1 waiting: the dialer is not set up (Account SID, Auth token, Caller ID missing on Dialer Preferences)."
        ),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_page_and_delivery_report_say_when_no_worker_is_running() {
    use herald_core::heartbeat::{self, Process};
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let id = a_waiting_phone_message(&pool).await;
    let app = TestApp::spawn(pool.clone());
    let cookie = app.sign_in("admin@district.example", "pw").await;
    let warning = "so nothing is being delivered";
    for endpoint in ["load_message_view", "delivery_report"] {
        let body = call_with_id(&app, &cookie, endpoint, id).await;
        assert!(
            body.contains("No Herald worker has checked in, so nothing is being delivered"),
            "{endpoint}: {body}"
        );
    }
    // Dialer Activity lists the message as active, and says the same.
    let (calendar, today): (uuid::Uuid, String) = sqlx::query_as(
        "select m.calendar_id, (now() at time zone d.time_zone)::date::text
         from message m, district d where m.id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    let req = Request::post("/api/dialer_activity")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, &cookie)
        .body(Body::from(format!(
            "calendar_id={calendar}&date={today}&active_only=true&users="
        )))
        .unwrap();
    let Reply { status, body, .. } = app.send(req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("Snow day") && body.contains(warning),
        "{body}"
    );

    let worker = uuid::Uuid::new_v4();
    let process = Process {
        host: "worker-1".into(),
        pid: 42,
    };
    heartbeat::beat(&pool, worker, &process).await.unwrap();
    for endpoint in ["load_message_view", "delivery_report"] {
        let body = call_with_id(&app, &cookie, endpoint, id).await;
        assert!(
            !body.contains(warning),
            "a worker is running: {endpoint}: {body}"
        );
    }

    // The worker dies without checking out: after a minute the pages say since when.
    sqlx::query("update worker_heartbeat set seen_at = now() - interval '5 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    let body = call_with_id(&app, &cookie, "delivery_report", id).await;
    assert!(
        body.contains("No Herald worker has checked in since "),
        "{body}"
    );

    // A finished message needs no worker: no warning.
    sqlx::query("update message set finished_at = now() where id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("update delivery_job set status = 'sent', sent_at = now() where message_id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let body = call_with_id(&app, &cookie, "delivery_report", id).await;
    assert!(!body.contains(warning), "{body}");
}

/// A message from the admin to Pat with three email jobs (sent, failed with an error that has a
/// comma, queued) and its tally, as fan-out and the worker would leave them. Returns its id.
async fn message_to_pat(
    pool: &PgPool,
    account: herald_core::domain::AccountId,
    email: &EmailAddress,
    calendar: uuid::Uuid,
    method: uuid::Uuid,
) -> uuid::Uuid {
    let message: uuid::Uuid = sqlx::query_scalar(
        "with m as (
             insert into message (sender_account_id, sender_name, sender_email, reason, subject, body_html,
                                  body_text, inbox_text, voice_script, audience, calendar_id, devices,
                                  start_at, fanned_out_at)
             values ($1, 'Ada Admin', $2, 'general', 'Snow day', '<p>x</p>', 'x', 'x', '', 'guardians', $3,
                     '{email}', now(), now())
             returning id),
         r as (insert into message_recipient (message_id, person_id)
               select m.id, cm.person_id from m, contact_method cm where cm.id = $4),
         j as (insert into delivery_job (message_id, device, person_id, contact_method_id, target, status,
                                         due_at, attempts, sent_at, failed_at, last_error)
               select m.id, 'email', cm.person_id, cm.id, v.target, v.status::job_status, now(), v.attempts,
                      case when v.status = 'sent' then now() end,
                      case when v.status = 'failed' then now() end, v.error
               from m, contact_method cm,
                    (values (1, 'pat@home.example', 'sent', 1, null),
                            (2, 'pat+2@home.example', 'failed', 1, '550 no such user, sorry'),
                            (3, 'pat+3@home.example', 'queued', 0, null)) v(n, target, status, attempts, error)
               where cm.id = $4
               order by v.n
               returning id)
         insert into message_tally (message_id, device, total, sent, failed, first_job, last_job)
         select m.id, 'email', 3, 1, 1, (select min(id) from j), (select max(id) from j) from m
         returning message_id",
    )
    .bind(account)
    .bind(email.as_str())
    .bind(calendar)
    .bind(method)
    .fetch_one(pool)
    .await
    .unwrap();
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_downloads_the_delivery_report_as_csv_and_nobody_else_can() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let (account, email, calendar) = admin_and_calendar(&pool).await;
    let method = email_method(&pool).await;
    let message = message_to_pat(&pool, account, &email, calendar, method).await;
    let app = TestApp::spawn(pool.clone());
    let path = format!("/admin/messenger/messages/{message}/delivery.csv");
    let get = |uri: String, cookie: Option<String>| {
        let mut req = Request::get(uri);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        req.body(Body::empty()).unwrap()
    };

    let Reply {
        status, headers, ..
    } = app.send(get(path.clone(), None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/sign-in");

    let cookie = app.sign_in("admin@district.example", "pw").await;
    let Reply {
        status,
        body,
        headers,
    } = app.send(get(path.clone(), Some(cookie.clone()))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines[0],
        "Person,Students,Device,Address,Status,Time,Attempts,Error,Call"
    );
    assert_eq!(lines.len(), 4, "{body}");
    assert!(
        lines[1].starts_with("Pat Lee,,Email,pat@home.example,Sent,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("Pat Lee,,Email,pat+2@home.example,Failed,")
            && lines[2].ends_with(",1,\"550 no such user, sorry\","),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains(",Queued,"), "{}", lines[3]);

    // A browser that accepts gzip gets the whole file compressed (the stream must end cleanly
    // under the compression layer, which polls it once more after its last line).
    let mut req = get(path.clone(), Some(cookie.clone()));
    req.headers_mut()
        .insert(header::ACCEPT_ENCODING, "gzip".parse().unwrap());
    let Reply {
        status, headers, ..
    } = app.send(req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");

    // Filtered as on the page: failed only, and a search.
    let Reply { body, .. } = app
        .send(get(
            format!("{path}?device=email&status=failed"),
            Some(cookie.clone()),
        ))
        .await;
    assert_eq!(body.lines().count(), 2, "{body}");
    // The search finds people (by name or current address), then their jobs.
    let Reply { body, .. } = app
        .send(get(format!("{path}?q=lee"), Some(cookie.clone())))
        .await;
    assert_eq!(body.lines().count(), 4, "{body}");
    let Reply { body, .. } = app
        .send(get(
            format!("{path}?status=failed&q=PAT%40home"),
            Some(cookie.clone()),
        ))
        .await;
    assert_eq!(body.lines().count(), 2, "{body}");
    let Reply { body, .. } = app
        .send(get(format!("{path}?q=nobody"), Some(cookie.clone())))
        .await;
    assert_eq!(body.lines().count(), 1, "{body}");
    let Reply { status, .. } = app
        .send(get(
            format!(
                "/admin/messenger/messages/{}/delivery.csv",
                uuid::Uuid::new_v4()
            ),
            Some(cookie),
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A parent's session gets 403.
    let pat = herald_core::domain::PersonId(
        sqlx::query_scalar("select person_id from contact_method where id = $1")
            .bind(method)
            .fetch_one(&pool)
            .await
            .unwrap(),
    );
    give_a_child(&pool, pat).await;
    accounts::create(
        &pool,
        &EmailAddress::parse("pat@home.example").unwrap(),
        "Pat Lee",
        &SecretString::from("pw-parent".to_string()),
        Role::Parent,
        Some(pat),
    )
    .await
    .unwrap();
    let Reply { headers, .. } = app
        .send(
            Request::post("/api/sign_in")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("email=pat@home.example&password=pw-parent"))
                .unwrap(),
        )
        .await;
    let parent = headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let Reply { status, body, .. } = app.send(get(path, Some(parent))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!body.contains("pat@home.example"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_utilization_extract_is_csv_or_html_for_admins_and_names_a_bad_field() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let (account, email, calendar) = admin_and_calendar(&pool).await;
    let method = email_method(&pool).await;
    message_to_pat(&pool, account, &email, calendar, method).await;
    let app = TestApp::spawn(pool.clone());
    let today = chrono::Utc::now().date_naive();
    let (start, end) = (today - chrono::Days::new(1), today + chrono::Days::new(1));
    let path = |q: &str| format!("/admin/messenger/reports/utilization/extract?{q}");
    let get = |uri: String, cookie: Option<&str>| {
        let mut req = Request::get(uri);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        req.body(Body::empty()).unwrap()
    };
    let q = format!("start={start}&end={end}&sent_to=email&format=csv");
    let Reply { status, .. } = app.send(get(path(&q), None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "signed out: to sign-in");

    let cookie = app.sign_in("admin@district.example", "pw").await;
    let Reply {
        status,
        body,
        headers,
    } = app.send(get(path(&q), Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "Date,School,Messages,Attempted,Delivered,Failed");
    assert_eq!(lines.len(), 2, "{body}");
    assert!(lines[1].ends_with(",Lincoln,1,3,1,1"), "{}", lines[1]);

    let html_q = format!("start={start}&end={end}&sent_to=email&format=html");
    let Reply {
        status,
        body,
        headers,
    } = app.send(get(path(&html_q), Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(body.contains("<h1>Utilization Report: Emails,"), "{body}");
    assert!(
        body.contains("<th scope=\"row\">Lincoln</th><td>1</td><td>3</td><td>1</td><td>1</td>"),
        "{body}"
    );
    let phone_q = format!("start={start}&end={end}&sent_to=phone&format=html");
    let Reply { body, .. } = app.send(get(path(&phone_q), Some(&cookie))).await;
    assert!(
        body.contains("No messages were sent in these dates."),
        "{body}"
    );

    for (q, says) in [
        (
            format!("start=2026-13-01&end={end}&sent_to=email&format=csv"),
            "Start Date: '2026-13-01' is not a date",
        ),
        (
            format!("start={end}&end={start}&sent_to=email&format=csv"),
            "End Date:",
        ),
        (
            format!("start={start}&end={end}&sent_to=fax&format=csv"),
            "Messages Sent To: 'fax'",
        ),
        (
            format!("start={start}&end={end}&sent_to=email&format=pdf"),
            "Format: 'pdf'",
        ),
    ] {
        let Reply { status, body, .. } = app.send(get(path(&q), Some(&cookie))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert!(body.contains(says), "{q}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_preferences_say_what_the_smtp_server_refused_until_they_are_saved_again() {
    use herald_core::domain::Device;
    use herald_core::messaging::error_reports::{self, Cause};
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    admin_and_calendar(&pool).await;
    let app = TestApp::spawn(pool.clone());
    let cookie = app.sign_in("admin@district.example", "pw").await;
    let load = || app.call("load_email_prefs", "", Some(&cookie));
    assert!(load().await.body.contains(r#""trouble":null"#));

    // The settings were saved a while ago; since then a worker met a refused sign-in.
    sqlx::query("update email_settings set updated_at = now() - interval '1 minute'")
        .execute(&pool)
        .await
        .unwrap();
    let refusal = "signing in to the SMTP server: permanent error (535): 5.7.8 bad credentials";
    error_reports::record(&pool, Device::Email, Cause::Credentials, refusal, None)
        .await
        .unwrap();
    let Reply { status, body, .. } = load().await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("refuses Herald's sign-in"), "{body}");
    assert!(body.contains("5.7.8 bad credentials"), "{body}");
    assert!(
        body.contains("once since these settings were saved"),
        "{body}"
    );

    // Saving new settings starts afresh: the old refusal is not about them.
    let form = serde_json::json!({ "form": {
        "smtp_host": "127.0.0.1", "smtp_port": "1025", "tls": "none", "username": "herald",
        "password": "new-secret", "clear_password": false, "from_address": "messenger@district.example",
        "from_name": "Herald", "reply_to": "", "portal_url": "https://portal.district.example/portal"
    }});
    let req = Request::post("/api/save_email_prefs")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, &cookie)
        .body(Body::from(form.to_string()))
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::OK);
    assert!(load().await.body.contains(r#""trouble":null"#));
}
