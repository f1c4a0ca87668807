//! The server as a browser meets it: pages rendered on the server, server functions over HTTP,
//! the session cookie, role checks and the cross-site guard. Each test has its own database
//! (`herald_testing::db::TestDb`, on a multi-threaded runtime like the real server) and drives the real router
//! in memory.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use herald_core::accounts::{self, Role};
use herald_core::domain::{EmailAddress, PersonId};
use secrecy::SecretString;
use sqlx::PgPool;

use crate::support::{TestApp, give_a_child};
use herald_testing::db::TestDb;

async fn add_admin(pool: &PgPool) {
    let email = EmailAddress::parse("admin@district.example").unwrap();
    accounts::create(
        pool,
        &email,
        "Ada Admin",
        &SecretString::from("pw-admin".to_string()),
        Role::DistrictAdmin,
        None,
    )
    .await
    .unwrap();
}

async fn add_parent(pool: &PgPool) {
    let person = sqlx::query_scalar!(
        r#"insert into person (sourced_id, kind, given_name, family_name)
           values ('g-1', 'guardian', 'Pat', 'Lee') returning id as "id: PersonId""#
    )
    .fetch_one(pool)
    .await
    .unwrap();
    give_a_child(pool, person).await;
    let email = EmailAddress::parse("pat@home.example").unwrap();
    accounts::create(
        pool,
        &email,
        "Pat Lee",
        &SecretString::from("pw-parent".to_string()),
        Role::Parent,
        Some(person),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_sets_an_http_only_same_site_cookie_and_redirects_to_the_role_home() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    add_admin(&pool).await;
    let app = TestApp::spawn(pool);
    let r = app
        .call(
            "sign_in",
            "email=admin%40district.example&password=pw-admin",
            None,
        )
        .await;
    let cookie = r
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("herald_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let location = r
        .headers
        .get(header::LOCATION)
        .or_else(|| r.headers.get("serverfnredirect"));
    assert!(
        location.is_some_and(|l| l.to_str().unwrap().contains("/admin")),
        "{:?}",
        r.headers
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_gets_a_readable_error_and_no_cookie() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    add_admin(&pool).await;
    let app = TestApp::spawn(pool);
    let r = app
        .call(
            "sign_in",
            "email=admin%40district.example&password=guess",
            None,
        )
        .await;
    assert!(r.headers.get(header::SET_COOKIE).is_none());
    assert!(r.body.contains("do not match an account"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_post_is_refused_before_any_server_function_runs() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    add_admin(&pool).await;
    let app = TestApp::spawn(pool.clone());
    let req = Request::post("/api/sign_in")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "herald.test")
        .header(header::ORIGIN, "https://elsewhere.example")
        .body(Body::from("email=admin%40district.example&password=guess"))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let failures = sqlx::query_scalar!(r#"select count(*) as "n!" from sign_in_failure"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(failures, 0, "the sign-in function must not have run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_functions_refuse_callers_without_a_session() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool);
    let r = app.call("search_people", "query=lee", None).await;
    assert!(r.body.contains("NotSignedIn"), "{}", r.body);
    let r = app.call("my_household", "", None).await;
    assert!(r.body.contains("NotSignedIn"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_cannot_call_admin_server_functions() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    add_parent(&pool).await;
    let app = TestApp::spawn(pool);
    let cookie = app.sign_in("pat%40home.example", "pw-parent").await;
    for (function, form) in [
        ("search_people", "query=lee"),
        ("person_card", "id=00000000-0000-0000-0000-000000000000"),
        ("list_calendars", ""),
        ("load_headcounts", ""),
        ("import_status", "id=00000000-0000-0000-0000-000000000000"),
        (
            "preference_history",
            "id=00000000-0000-0000-0000-000000000000",
        ),
        ("delivery_report", "id=00000000-0000-0000-0000-000000000000"),
        (
            "delivery_recipients",
            "id=00000000-0000-0000-0000-000000000000&device=email&status=&search=",
        ),
        ("dialer_activity_form", ""),
        (
            "dialer_activity",
            "date=2026-11-23&active_only=false&users=",
        ),
        (
            "cancel_activity",
            "date=2026-11-23&active_only=true&users=&selected=&all=true",
        ),
        ("sent_messages", "from=&until=&sender=&reason="),
        ("delivery_workers", ""),
    ] {
        let r = app.call(function, form, Some(&cookie)).await;
        assert!(r.body.contains("Forbidden"), "{function}: {}", r.body);
    }
    let own = app.call("my_household", "", Some(&cookie)).await;
    assert!(own.body.contains("Pat Lee"), "{}", own.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_cannot_use_the_parent_portal_functions() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    add_admin(&pool).await;
    let app = TestApp::spawn(pool);
    let cookie = app.sign_in("admin%40district.example", "pw-admin").await;
    for (function, form) in [
        ("my_household", ""),
        ("my_preferences", ""),
        (
            "set_my_preference",
            "method=00000000-0000-0000-0000-000000000000&reason=general&enabled=false",
        ),
        (
            "set_my_texts",
            "method=00000000-0000-0000-0000-000000000000&on=true",
        ),
    ] {
        let r = app.call(function, form, Some(&cookie)).await;
        assert!(r.body.contains("Forbidden"), "{function}: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_makes_the_cookie_worthless() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    add_admin(&pool).await;
    let app = TestApp::spawn(pool);
    let cookie = app.sign_in("admin%40district.example", "pw-admin").await;
    let before = app.call("current_user", "", Some(&cookie)).await;
    assert!(before.body.contains("Ada Admin"), "{}", before.body);
    app.call("sign_out", "", Some(&cookie)).await;
    let after = app.call("current_user", "", Some(&cookie)).await;
    assert_eq!(after.body.trim(), "null");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_page_is_rendered_on_the_server() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool);
    let r = app.get("/sign-in", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(r#"name="password""#), "{}", r.body);
    assert!(
        r.body.contains("/api/sign_in"),
        "the form posts to the server function without JS"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_out_visitor_is_sent_to_sign_in_from_every_admin_page() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool);
    // Portal pages send the parent back where they were going after sign-in.
    for (path, to) in [
        ("/", "/sign-in"),
        ("/admin", "/sign-in"),
        ("/admin/people", "/sign-in"),
        ("/admin/roster-import", "/sign-in"),
        ("/portal", "/sign-in?next=/portal"),
        ("/portal/preferences", "/sign-in?next=/portal/preferences"),
    ] {
        let r = app.get(path, None).await;
        assert_eq!(r.status, StatusCode::FOUND, "{path}");
        assert_eq!(r.headers.get(header::LOCATION).unwrap(), to, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_opening_the_admin_shell_lands_on_the_portal() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    add_parent(&pool).await;
    let app = TestApp::spawn(pool);
    let cookie = app.sign_in("pat%40home.example", "pw-parent").await;
    let r = app.get("/admin/people", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.headers.get(header::LOCATION).unwrap(), "/portal");
    let portal = app.get("/portal", Some(&cookie)).await;
    assert_eq!(portal.status, StatusCode::OK);
    assert!(portal.body.contains("User Notices"), "{}", portal.body);
}

/// A phone job of a new message, placed with the provider as the phone lane does: its call's
/// id and the job's id.
async fn a_placed_call(pool: &PgPool, sid: &str) -> (uuid::Uuid, herald_core::domain::JobId) {
    use chrono::NaiveTime;
    use herald_core::dialer::{calls, provider};
    use herald_core::domain::{ContactReason, Device, DialWindow};
    use herald_core::messaging::{compose, fanout, queue};
    let d = herald_testing::district::district(pool, 10).await;
    let mut draft =
        herald_testing::district::draft(d.calendar, ContactReason::General, &[Device::Phone]);
    let all_day = (NaiveTime::MIN, NaiveTime::from_hms_opt(23, 59, 59).unwrap());
    draft.dial_window = Some(DialWindow::new(all_day.0, all_day.1).unwrap());
    compose::create(pool, &draft.compose().unwrap(), &d.sender)
        .await
        .unwrap();
    fanout::fan_out_next(pool).await.unwrap().unwrap();
    let worker = uuid::Uuid::new_v4();
    let job = queue::lease(pool, Device::Phone, worker, 60, 1, 5)
        .await
        .unwrap()
        .remove(0);
    assert!(queue::hand_over(pool, worker, job.id).await.unwrap());
    let call = calls::start_call(pool, job.id, job.attempts).await.unwrap();
    let state = provider::CallState {
        sid: sid.into(),
        status: provider::CallStatus::Queued,
        answered_by: None,
        duration_seconds: None,
    };
    let placed = calls::mark_calling(
        pool,
        worker,
        job.id,
        call,
        &state,
        std::time::Duration::from_secs(600),
    )
    .await
    .unwrap();
    assert_eq!(placed, calls::Placed::Calling);
    (call, job.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_takes_signed_voice_status_callbacks_from_another_site_and_refuses_unsigned_ones()
 {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    sqlx::query!(
        "update dialer_settings set account_sid = 'AC00000000000000000000000000000001',
             auth_token = 'callback-token'"
    )
    .execute(&pool)
    .await
    .unwrap();
    let sid = "CA00000000000000000000000000000002";
    let (call, job) = a_placed_call(&pool, sid).await;
    let status = || async {
        sqlx::query_scalar!(
            r#"select status::text as "s!" from delivery_job where id = $1"#,
            job as herald_core::domain::JobId
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let app = TestApp::spawn(pool.clone());
    let post = |call: uuid::Uuid, token: Option<&str>| {
        let path = format!("/dialer/status?call={call}");
        // The URL the provider was given: the portal URL's site (the default portal URL here).
        let url = format!("http://127.0.0.1:3000{path}");
        let params = vec![
            ("CallSid".to_string(), sid.to_string()),
            ("CallStatus".to_string(), "completed".to_string()),
            ("SequenceNumber".to_string(), "3".to_string()),
        ];
        let mut req = Request::post(path.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "herald.test")
            .header("sec-fetch-site", "cross-site")
            .header(header::ORIGIN, "https://api.twilio.com");
        if let Some(token) = token {
            let signature = herald_core::dialer::provider::signature(token, &url, &params);
            req = req.header("X-Twilio-Signature", signature);
        }
        let body = serde_urlencoded::to_string(&params).unwrap();
        req.body(Body::from(body)).unwrap()
    };
    // An unknown call: accepted (the provider must not retry) and ignored.
    let unknown = uuid::Uuid::new_v4();
    let r = app.send(post(unknown, Some("callback-token"))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Unsigned, or signed with another token: refused, and the call is still going.
    let r = app.send(post(call, None)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.send(post(call, Some("other-token"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(status().await, "calling");
    // Signed: the call's end is recorded through the server's own router.
    let r = app.send(post(call, Some("callback-token"))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(status().await, "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_gets_not_found_for_another_households_notice_and_never_sees_it() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    add_parent(&pool).await;
    let theirs: uuid::Uuid = sqlx::query_scalar!(
        "insert into portal_notice (person_id, message_id, job_id, reason, subject, body)
         values (gen_random_uuid(), gen_random_uuid(), 1, 'general', 'Someone else''s', 'Private')
         returning id"
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let app = TestApp::spawn(pool.clone());
    let cookie = app.sign_in("pat%40home.example", "pw-parent").await;
    for (function, form) in [
        ("read_notice", format!("id={theirs}")),
        ("my_notices", "after=garbage".to_string()),
    ] {
        let r = app.call(function, &form, Some(&cookie)).await;
        assert_eq!(r.body, "\"NotFound\"", "{function}");
    }
    let r = app.call("read_all_notices", "", Some(&cookie)).await;
    assert_eq!(r.body, "0", "nothing of theirs to mark");
    let r = app.call("my_notices", "", Some(&cookie)).await;
    assert!(!r.body.contains("Private"), "{}", r.body);
    let unread: bool = sqlx::query_scalar!(
        r#"select read_at is null as "unread!" from portal_notice where id = $1"#,
        theirs
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(unread, "their notice stays unread");
}

/// Gives Pat (see [`add_parent`]) an email address and a household phone, and adds another
/// household's guardian with an email address and a cell phone. Returns (Pat's email method,
/// Pat's household phone, the other guardian's id, the other guardian's methods).
async fn two_households(pool: &PgPool) -> (uuid::Uuid, uuid::Uuid, PersonId, Vec<uuid::Uuid>) {
    add_parent(pool).await;
    let ids = sqlx::query!(
        r#"with h as (insert into household (key, name) values ('h-lee', 'Lee') returning id),
                pat as (update person set household_id = (select id from h) where sourced_id = 'g-1' returning id),
                mine as (insert into contact_method (person_id, email)
                         select id, 'pat@home.example' from pat returning id),
                home as (insert into contact_method (household_id, phone, phone_kind)
                         select id, '+16125550100', 'home' from h returning id),
                other as (insert into person (sourced_id, kind, given_name, family_name)
                          values ('g-2', 'guardian', 'Sam', 'Ortiz') returning id),
                theirs as (insert into contact_method (person_id, email, phone, phone_kind, sms_capable)
                           select id, e, p, k::phone_kind, k is not null
                           from other, (values ('sam@home.example', null, null),
                                               (null, '+16125550111', 'cell')) v(e, p, k)
                           returning id)
           select (select id from mine) as "mine!", (select id from home) as "home!",
                  (select id from other) as "other!: PersonId",
                  (select array_agg(id) from theirs) as "theirs!""#
    )
    .fetch_one(pool)
    .await
    .unwrap();
    (ids.mine, ids.home, ids.other, ids.theirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_gets_not_found_for_another_households_preferences_and_changes_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let (mine, home, other, theirs) = two_households(&pool).await;
    let app = TestApp::spawn(pool.clone());
    let cookie = app.sign_in("pat%40home.example", "pw-parent").await;
    for method in &theirs {
        for (function, form) in [
            (
                "set_my_preference",
                format!("method={method}&reason=general&enabled=false"),
            ),
            ("set_my_texts", format!("method={method}&on=true")),
            ("set_my_texts", format!("method={method}&on=false")),
        ] {
            let r = app.call(function, &form, Some(&cookie)).await;
            assert_eq!(r.body, "\"NotFound\"", "{function} {form}");
        }
    }
    let r = app
        .call("preference_history", &format!("id={other}"), Some(&cookie))
        .await;
    assert!(r.body.contains("Forbidden"), "{}", r.body);
    let changed: i64 = sqlx::query_scalar!(
        r#"select (select count(*) from contact_preference) + (select count(*) from sms_consent) as "n!""#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(changed, 0, "nothing of theirs changed");

    // The page lists Pat's own methods and household phone, never the other household's.
    let r = app.call("my_preferences", "", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("pat@home.example") && r.body.contains("(612) 555-0100"));
    assert!(!r.body.contains("sam@home.example") && !r.body.contains("555-0111"));
    // Pat changes their own email and household phone; Emergency stays on.
    for method in [mine, home] {
        let r = app
            .call(
                "set_my_preference",
                &format!("method={method}&reason=general&enabled=false"),
                Some(&cookie),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = app
        .call(
            "set_my_preference",
            &format!("method={mine}&reason=emergency&enabled=false"),
            Some(&cookie),
        )
        .await;
    assert!(r.body.contains("your district requires them"), "{}", r.body);
    let by: Vec<String> = sqlx::query_scalar!("select changed_by from contact_preference_change")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(by, ["portal: pat@home.example", "portal: pat@home.example"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_returns_a_parent_to_the_portal_page_they_asked_for_and_nowhere_else() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    add_parent(&pool).await;
    let app = TestApp::spawn(pool);
    for (next, expected) in [
        ("%2Fportal%2Fpreferences", "/portal/preferences"),
        ("%2Fadmin%2Fpeople", "/portal"),
        ("%2F%2Fevil.example%2Fportal", "/portal"),
        ("https%3A%2F%2Fevil.example%2Fportal", "/portal"),
    ] {
        let r = app
            .call(
                "sign_in",
                &format!("email=pat%40home.example&password=pw-parent&next={next}"),
                None,
            )
            .await;
        let location = r
            .headers
            .get(header::LOCATION)
            .or_else(|| r.headers.get("serverfnredirect"))
            .map(|l| l.to_str().unwrap().to_string());
        assert_eq!(location.as_deref(), Some(expected), "next={next}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_lists_a_stuck_worker_as_stuck_with_its_reason() {
    use herald_core::heartbeat::{self, Process};
    let db = TestDb::new().await;
    add_admin(&db.pool).await;
    let ok = Process {
        host: "ops-1".into(),
        pid: 41,
    };
    let bad = Process {
        host: "ops-2".into(),
        pid: 42,
    };
    heartbeat::beat(&db.pool, uuid::Uuid::new_v4(), &ok)
        .await
        .unwrap();
    let why = "the email lane showed no progress for 121 s (the deadline is 120 s)";
    heartbeat::mark_stuck(&db.pool, uuid::Uuid::new_v4(), &bad, why)
        .await
        .unwrap();
    let app = TestApp::spawn(db.pool.clone());
    let cookie = app.sign_in("admin@district.example", "pw-admin").await;
    let reply = app.call("delivery_workers", "", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let lines: Vec<serde_json::Value> = serde_json::from_str(&reply.body).unwrap();
    let state = |host: &str| {
        lines
            .iter()
            .find(|l| l["host"] == host)
            .map(|l| l["state"].clone())
            .unwrap_or_else(|| panic!("{host} listed: {}", reply.body))
    };
    assert_eq!(state("ops-1"), serde_json::json!("Running"));
    assert_eq!(state("ops-2"), serde_json::json!({ "Stuck": why }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_over_https_sets_a_secure_host_prefixed_cookie_that_keeps_the_session() {
    let db = TestDb::new().await;
    add_admin(&db.pool).await;
    let app = TestApp::spawn(db.pool.clone());
    let req = Request::post("/api/sign_in")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "herald.test")
        .header(header::ORIGIN, "https://herald.test")
        .body(Body::from(
            "email=admin%40district.example&password=pw-admin",
        ))
        .unwrap();
    let r = app.send(req).await;
    let set = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(set.starts_with("__Host-herald_session="), "{set}");
    assert!(set.contains("; Secure") && set.contains("Path=/"), "{set}");
    assert!(!set.contains("Domain"), "{set}");
    let cookie = set.split(';').next().unwrap();
    let me = app.call("current_user", "", Some(cookie)).await;
    assert!(me.body.contains("Ada Admin"), "{}", me.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_content_security_policy_and_may_not_be_framed() {
    let db = TestDb::new().await;
    add_admin(&db.pool).await;
    let app = TestApp::spawn(db.pool.clone());
    let page = app.get("/sign-in", None).await;
    let policy = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the page policy names a nonce");
    assert!(
        page.body.contains(&format!("nonce=\"{nonce}\"")),
        "the page's own scripts carry the policy's nonce"
    );
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let again = app.get("/sign-in", None).await;
    assert_ne!(
        again.headers[header::CONTENT_SECURITY_POLICY],
        page.headers[header::CONTENT_SECURITY_POLICY],
        "a fresh nonce per page"
    );
    let cookie = app.sign_in("admin%40district.example", "pw-admin").await;
    let export = app
        .get(
            "/admin/messenger/reports/utilization/extract?start=2026-01-01&end=2026-01-31&sent_to=email&format=html",
            Some(&cookie),
        )
        .await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    for reply in [&page, &export] {
        assert_eq!(reply.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(reply.headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(reply.headers[header::REFERRER_POLICY], "same-origin");
    }
    assert!(
        export.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'none'"),
        "an export runs no script"
    );
    // A date chrono reads but whose next day does not exist is refused, not a panic.
    let far = app
        .get(
            "/admin/messenger/reports/utilization/extract?start=2026-01-01&end=%2B262143-12-31&sent_to=email&format=csv",
            Some(&cookie),
        )
        .await;
    assert_eq!(far.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", far.body);
    assert!(far.body.contains("is not a date"), "{}", far.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_throttle_believes_x_forwarded_for_only_from_a_trusted_proxy() {
    let db = TestDb::new().await;
    add_admin(&db.pool).await;
    let wrong = "email=admin%40district.example&password=guess";
    let right = "email=admin%40district.example&password=pw-admin";
    // No proxy is trusted: a client naming a new address each time is still the one it is.
    let direct = TestApp::spawn(db.pool.clone());
    for n in 0..5 {
        let r = direct
            .call_forwarded("sign_in", wrong, &format!("203.0.113.{n}"))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    let r = direct
        .call_forwarded("sign_in", wrong, "203.0.113.99")
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);

    // Behind one trusted proxy, the entry it appended is the client: another client is not
    // held back by those failures...
    let proxied = TestApp::spawn_with(db.pool.clone(), |s| s.auth.forwarded_hops = 1);
    let r = proxied
        .call_forwarded("sign_in", wrong, "198.51.100.7")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    // ...and what a client writes left of that entry changes nothing.
    for n in 0..4 {
        let spoofed = format!("10.9.9.{n}, 198.51.100.7");
        let r = proxied.call_forwarded("sign_in", wrong, &spoofed).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    let r = proxied
        .call_forwarded("sign_in", right, "10.9.9.9, 198.51.100.7")
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    let r = proxied.call_forwarded("sign_in", right, "192.0.2.80").await;
    assert!(
        r.headers.contains_key(header::SET_COOKIE),
        "{} {}",
        r.status,
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_beyond_the_free_password_checks_are_told_herald_is_busy_not_run() {
    let db = TestDb::new().await;
    add_admin(&db.pool).await;
    // One password check at a time, and no waiting for it.
    let app = std::sync::Arc::new(TestApp::spawn_with(db.pool.clone(), |s| {
        s.auth.concurrent_password_checks = 1;
        s.auth.password_check_wait_ms = 0;
        s.auth.max_failures = 100;
    }));
    let attempts = (0..6).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let form = format!("email=someone{i}%40elsewhere.example&password=guess");
            app.call("sign_in", &form, None).await.status
        })
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let busy = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(busy + checked, 6, "{statuses:?}");
    assert!(busy >= 1 && checked >= 1, "{statuses:?}");
    let failures = sqlx::query_scalar!(r#"select count(*) as "n!" from sign_in_failure"#)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        failures as usize, checked,
        "a busy answer checked no password"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ops_listener_reports_latency_by_route_and_never_by_a_raw_url() {
    use tower::ServiceExt;
    herald_core::metrics::install();
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool.clone());
    let r = app.call("search_people", "query=lee", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.get("/no-such-page-9f3a", None).await;
    app.call("no_such_function_9f3a", "", None).await;
    let res = herald_server::ops::router(pool)
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = axum::body::to_bytes(res.into_body(), 1 << 22)
        .await
        .unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        body.contains(
            r#"herald_http_request_seconds_count{route="/api/search_people",status="401"}"#
        ),
        "{body}"
    );
    assert!(body.contains(r#"route="unmatched""#), "{body}");
    assert!(!body.contains("9f3a"), "no raw URL becomes a label: {body}");
    assert!(body.contains("herald_queue_jobs{"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_page_carries_the_page_policy_with_a_calendar_chosen() {
    let db = TestDb::new().await;
    let d = herald_testing::district::district(&db.pool, 10).await;
    let app = TestApp::spawn(db.pool.clone());
    let cookie = app.sign_in("principal%40district.example", "pw").await;
    let chose = app
        .call(
            "choose_calendar",
            &format!("calendar_id={}", d.calendar),
            Some(&cookie),
        )
        .await;
    assert!(chose.status.is_success(), "{}", chose.body);
    for path in [
        "/admin",
        "/admin/people",
        "/admin/messenger/compose",
        "/admin/messenger/sent-messages",
    ] {
        let page = app.get(path, Some(&cookie)).await;
        let policy = page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            policy.contains("'nonce-"),
            "{path} ({}): {policy}",
            page.status
        );
    }
}
