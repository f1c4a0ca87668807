//! Every server function's refusals, and the HTTP status each answers with: the endpoint-by-role
//! matrix (who may call what), 401 signed out and 403 for the wrong role with nothing changed, and
//! bad input as 4xx (400 unreadable, 401 wrong password, 404 not found, 422 invalid, 429
//! throttled), so that a 5xx always means Herald itself failed. A server function missing from
//! [`MATRIX`] fails [`every_server_function_is_in_the_endpoint_by_role_matrix`].

use std::collections::BTreeSet;

use axum::http::StatusCode;
use herald_core::accounts::{self, Role};
use herald_core::domain::{EmailAddress, PersonId};
use secrecy::SecretString;
use sqlx::PgPool;

use crate::support::{Reply, TestApp, give_a_child};
use herald_testing::db::TestDb;

/// Who a server function admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admits {
    /// Anyone, signed in or not.
    Everyone,
    /// District admins.
    Admins,
    /// District admins and teachers.
    Staff,
    /// Parents.
    Parents,
}

/// How a test calls a server function.
#[derive(Clone, Copy)]
enum Input {
    /// An `application/x-www-form-urlencoded` body.
    Form(&'static str),
    /// A JSON body of the function's arguments (made by [`json_args`]).
    Json,
    /// A multipart upload.
    Multipart,
}

const NIL: &str = "00000000-0000-0000-0000-000000000000";

/// Every server function, whom it admits, and how to call it.
const MATRIX: &[(&str, Admits, Input)] = &[
    ("current_user", Admits::Everyone, Input::Form("")),
    (
        "sign_in",
        Admits::Everyone,
        Input::Form("email=nobody%40x.example&password=x"),
    ),
    ("sign_out", Admits::Everyone, Input::Form("")),
    ("list_calendars", Admits::Staff, Input::Form("")),
    (
        "choose_calendar",
        Admits::Staff,
        Input::Form("calendar_id=CAL"),
    ),
    ("load_headcounts", Admits::Staff, Input::Form("")),
    ("search_people", Admits::Staff, Input::Form("query=lee")),
    ("person_card", Admits::Staff, Input::Form("id=PERSON")),
    (
        "preference_history",
        Admits::Staff,
        Input::Form("id=PERSON"),
    ),
    ("delivery_workers", Admits::Admins, Input::Form("")),
    ("upload_roster", Admits::Admins, Input::Multipart),
    ("import_status", Admits::Admins, Input::Form("id=NIL")),
    ("compose_audience", Admits::Admins, Input::Json),
    ("compose_members", Admits::Admins, Input::Json),
    ("compose_preview", Admits::Admins, Input::Json),
    ("compose_send_test", Admits::Admins, Input::Json),
    ("compose_send", Admits::Admins, Input::Json),
    (
        "sent_messages",
        Admits::Admins,
        Input::Form("from=&until=&sender=&reason="),
    ),
    ("load_message_view", Admits::Admins, Input::Form("id=NIL")),
    ("cancel_message", Admits::Admins, Input::Form("id=NIL")),
    ("delivery_report", Admits::Admins, Input::Form("id=NIL")),
    (
        "delivery_recipients",
        Admits::Admins,
        Input::Form("id=NIL&device=email&status=&search="),
    ),
    ("load_email_prefs", Admits::Admins, Input::Form("")),
    ("save_email_prefs", Admits::Admins, Input::Json),
    ("load_dialer_prefs", Admits::Admins, Input::Form("")),
    ("save_dialer_prefs", Admits::Admins, Input::Json),
    ("dialer_activity_form", Admits::Admins, Input::Form("")),
    (
        "dialer_activity",
        Admits::Admins,
        Input::Form("date=2026-11-23&active_only=false&users="),
    ),
    (
        "cancel_activity",
        Admits::Admins,
        Input::Form("date=2026-11-23&active_only=true&users=&selected=&all=true"),
    ),
    ("utilization_defaults", Admits::Admins, Input::Form("")),
    (
        "set_account_disabled",
        Admits::Admins,
        Input::Form("account=ACCOUNT&disabled=true"),
    ),
    ("my_household", Admits::Parents, Input::Form("")),
    ("my_notices", Admits::Parents, Input::Form("")),
    ("newer_notices", Admits::Parents, Input::Form("than=x")),
    ("read_notice", Admits::Parents, Input::Form("id=NOTICE")),
    ("read_all_notices", Admits::Parents, Input::Form("")),
    ("my_preferences", Admits::Parents, Input::Form("")),
    (
        "set_my_preference",
        Admits::Parents,
        Input::Form("method=METHOD&reason=general&enabled=false"),
    ),
    (
        "set_my_texts",
        Admits::Parents,
        Input::Form("method=METHOD&on=true"),
    ),
];

/// The ids a call's input names: real rows, so that a guard that let a refused call through
/// would change them.
struct Fixture {
    calendar: uuid::Uuid,
    parent: PersonId,
    method: uuid::Uuid,
    notice: uuid::Uuid,
    /// A second admin's account, which no test signs in with.
    spare_account: uuid::Uuid,
}

/// An admin, a teacher and a parent (Pat Lee, with an email address, a preference, and an unread
/// notice), and one school's calendar.
async fn district(pool: &PgPool) -> Fixture {
    let ids = sqlx::query!(
        r#"with d as (insert into district (sourced_id, name) values ('d', 'D') returning id),
                s as (insert into school (sourced_id, district_id, name)
                      select 's', id, 'Lincoln' from d returning id),
                cal as (insert into calendar (school_id, school_year, name, start_date, end_date)
                        select id, 2027, '2026-27', '2026-08-20', '2027-06-01' from s returning id),
                pat as (insert into person (sourced_id, kind, given_name, family_name)
                        values ('g-1', 'guardian', 'Pat', 'Lee') returning id),
                m as (insert into contact_method (person_id, email)
                      select id, 'pat@home.example' from pat returning id),
                tom as (insert into person (sourced_id, kind, given_name, family_name)
                        values ('t-1', 'staff', 'Tom', 'Teacher') returning id)
           select (select id from cal) as "calendar!", (select id from pat) as "parent!: PersonId",
                  (select id from m) as "method!", (select id from tom) as "teacher!: PersonId""#
    )
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query!(
        "insert into contact_preference (contact_method_id, reason, enabled)
         values ($1, 'general', true)",
        ids.method
    )
    .execute(pool)
    .await
    .unwrap();
    give_a_child(pool, ids.parent).await;
    let notice = sqlx::query_scalar!(
        "insert into portal_notice (person_id, message_id, job_id, reason, subject, body)
         values ($1, gen_random_uuid(), 1, 'general', 'Snow day', 'Closed') returning id",
        ids.parent as PersonId
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let mut spare_account = None;
    for (email, name, password, role, person) in [
        (
            "admin@district.example",
            "Ada Admin",
            "pw-admin",
            Role::DistrictAdmin,
            None,
        ),
        (
            "teacher@district.example",
            "Tom Teacher",
            "pw-teacher",
            Role::Teacher,
            Some(ids.teacher),
        ),
        (
            "pat@home.example",
            "Pat Lee",
            "pw-parent",
            Role::Parent,
            Some(ids.parent),
        ),
        (
            "spare@district.example",
            "Sam Spare",
            "pw-spare",
            Role::DistrictAdmin,
            None,
        ),
    ] {
        let email = EmailAddress::parse(email).unwrap();
        spare_account = Some(
            accounts::create(
                pool,
                &email,
                name,
                &SecretString::from(password.to_string()),
                role,
                person,
            )
            .await
            .unwrap(),
        );
    }
    Fixture {
        calendar: ids.calendar,
        parent: ids.parent,
        method: ids.method,
        notice,
        spare_account: spare_account.unwrap().0,
    }
}

/// What a refused call must leave as it was: every row a server function writes.
async fn fingerprint(pool: &PgPool) -> String {
    sqlx::query_scalar!(
        r#"select concat_ws(' ',
               (select count(*) from message), (select count(*) from delivery_job),
               (select count(*) from cancellation), (select count(*) from message_recipient),
               (select count(*) from portal_notice where read_at is null),
               (select string_agg(enabled::text, ',' order by contact_method_id, reason) from contact_preference),
               (select count(*) from contact_preference_change), (select count(*) from sms_consent),
               (select max(updated_at)::text from email_settings),
               (select max(updated_at)::text from dialer_settings),
               (select string_agg(coalesce(calendar_id::text, '-'), ',' order by created_at)
                  from auth_session),
               (select count(*) from person), (select count(*) from account),
               (select count(*) from account where disabled_at is not null),
               (select count(*) from roster_import),
               (select password from email_settings), (select auth_token from dialer_settings)
           ) as "f!""#
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The JSON arguments of the JSON-input server functions: well-formed, so the call reaches the
/// role check.
fn json_args(function: &str) -> serde_json::Value {
    use herald_app::admin::compose::{AudienceChoice, ComposeForm};
    use herald_app::admin::dialer_prefs::DialerPrefsForm;
    use herald_app::admin::email_prefs::EmailPrefsForm;
    let form = ComposeForm::default();
    match function {
        "compose_audience" => serde_json::json!({ "choice": AudienceChoice::default() }),
        "compose_members" => {
            serde_json::json!({ "choice": AudienceChoice::default(), "query": "" })
        }
        "compose_preview" | "compose_send_test" => {
            serde_json::json!({ "form": form, "person_id": null })
        }
        "compose_send" => serde_json::json!({ "form": form }),
        "save_email_prefs" => serde_json::json!({ "form": EmailPrefsForm {
            smtp_host: "smtp.elsewhere.example".into(),
            smtp_port: "587".into(),
            tls: "starttls".into(),
            from_address: "messenger@district.example".into(),
            portal_url: "https://portal.district.example/portal".into(),
            ..EmailPrefsForm::default()
        }}),
        "save_dialer_prefs" => serde_json::json!({ "form": DialerPrefsForm::default() }),
        other => panic!("no JSON arguments for {other}"),
    }
}

const BOUNDARY: &str = "herald-test-boundary";

async fn call(
    app: &TestApp,
    f: &Fixture,
    function: &str,
    input: Input,
    cookie: Option<&str>,
) -> Reply {
    match input {
        Input::Form(form) => {
            let form = form
                .replace("CAL", &f.calendar.to_string())
                .replace("PERSON", &f.parent.to_string())
                .replace("METHOD", &f.method.to_string())
                .replace("NOTICE", &f.notice.to_string())
                .replace("ACCOUNT", &f.spare_account.to_string())
                .replace("NIL", NIL);
            app.call(function, &form, cookie).await
        }
        Input::Json => {
            let body = json_args(function).to_string();
            app.call_as(function, "application/json", body, cookie)
                .await
        }
        Input::Multipart => {
            let body = format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"roster\"; \
                 filename=\"roster.zip\"\r\nContent-Type: application/zip\r\n\r\nPK\r\n--{BOUNDARY}--\r\n"
            );
            let kind = format!("multipart/form-data; boundary={BOUNDARY}");
            app.call_as(function, &kind, body, cookie).await
        }
    }
}

#[test]
fn every_server_function_is_in_the_endpoint_by_role_matrix() {
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_string())
        .collect();
    let listed: BTreeSet<String> = MATRIX.iter().map(|(f, _, _)| f.to_string()).collect();
    assert_eq!(
        registered, listed,
        "every server function (left) is in MATRIX (right), with whom it admits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_answer_401_signed_out_and_403_for_the_wrong_role_and_change_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let f = district(&pool).await;
    let app = TestApp::spawn(pool.clone());
    let admin = app.sign_in("admin%40district.example", "pw-admin").await;
    let teacher = app
        .sign_in("teacher%40district.example", "pw-teacher")
        .await;
    let parent = app.sign_in("pat%40home.example", "pw-parent").await;
    let before = fingerprint(&pool).await;
    let mut admitted = Vec::new();
    for &(function, admits, input) in MATRIX {
        if admits == Admits::Everyone {
            continue;
        }
        let signed_out = call(&app, &f, function, input, None).await;
        assert_eq!(
            signed_out.status,
            StatusCode::UNAUTHORIZED,
            "{function}, signed out: {}",
            signed_out.body
        );
        assert!(
            signed_out.body.contains("NotSignedIn"),
            "{function}: {}",
            signed_out.body
        );
        for (role, cookie) in [
            (Admits::Admins, &admin),
            (Admits::Staff, &teacher),
            (Admits::Parents, &parent),
        ] {
            let allowed = admits == role || (admits == Admits::Staff && role == Admits::Admins);
            if allowed {
                admitted.push((function, input, cookie.clone()));
                continue;
            }
            let r = call(&app, &f, function, input, Some(cookie)).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{function} as {role:?}: {}",
                r.body
            );
            assert!(
                r.body.contains("Forbidden"),
                "{function} as {role:?}: {}",
                r.body
            );
        }
    }
    assert_eq!(
        fingerprint(&pool).await,
        before,
        "a refused call changed nothing"
    );
    // The admitted calls get past the role check: whatever else they answer, it is not a refusal
    // of the caller and not a failure of Herald's.
    for (function, input, cookie) in admitted {
        let r = call(&app, &f, function, input, Some(&cookie)).await;
        let s = r.status.as_u16();
        assert!(
            s != 401 && s != 403 && s < 500,
            "{function} admitted its caller: {} {}",
            r.status,
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_answers_4xx_saying_what_is_wrong() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let f = district(&pool).await;
    let app = TestApp::spawn(pool.clone());
    let admin = app.sign_in("admin%40district.example", "pw-admin").await;
    let parent = app.sign_in("pat%40home.example", "pw-parent").await;

    // Arguments that cannot be read: 400.
    let r = app.call("person_card", "id=not-a-uuid", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("Malformed"), "{}", r.body);
    let r = app
        .call_as("compose_send", "application/json", "{", Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // An upload that is not multipart at all: 400, not a panic.
    let r = app
        .call_as("upload_roster", "multipart/form-data", "x", Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    // Nothing there: 404.
    let r = app
        .call("delivery_report", &format!("id={NIL}"), Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app
        .call("read_notice", &format!("id={NIL}"), Some(&parent))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // Understood but not acceptable: 422, naming the field.
    let r = app
        .call(
            "dialer_activity",
            &format!(
                "calendar_id={}&date=2026-13-45&active_only=false&users=",
                f.calendar
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("Date"), "{}", r.body);
    let body = serde_json::json!({ "form": herald_app::admin::email_prefs::EmailPrefsForm {
        smtp_port: "seventy".into(),
        ..Default::default()
    }});
    let r = app
        .call_as(
            "save_email_prefs",
            "application/json",
            body.to_string(),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    // A wrong password: 401; then too many of them: 429.
    let wrong = "email=admin%40district.example&password=guess";
    let r = app.call("sign_in", wrong, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert!(r.body.contains("do not match an account"), "{}", r.body);
    let mut last = r;
    for _ in 0..10 {
        last = app.call("sign_in", wrong, None).await;
        if last.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS, "{}", last.body);
}

/// A multipart body uploading `bytes` as the roster file.
fn roster_upload(bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"roster\"; filename=\"roster.zip\"\r\n\
         Content-Type: application/zip\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_upload_past_the_size_cap_is_413_and_a_zip_bomb_is_refused_whole() {
    use std::io::Write;
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    district(&pool).await;
    let app = TestApp::spawn_with(pool.clone(), |s| {
        s.import.max_upload_mb = 1;
        s.import.max_unzipped_mb = 1;
    });
    let admin = app.sign_in("admin%40district.example", "pw-admin").await;
    let kind = format!("multipart/form-data; boundary={BOUNDARY}");

    let big = vec![b'x'; (1 << 20) + 1];
    let r = app
        .call_as("upload_roster", &kind, roster_upload(&big), Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert!(r.body.contains("larger than the 1 MB"), "{}", r.body);

    // 4 MB of one character deflate to a few KB, well under the upload cap, and unzip past the
    // unzipped cap.
    let mut zip = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut zip);
        z.start_file("users.csv", zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(&vec![b'0'; 4 << 20]).unwrap();
        z.finish().unwrap();
    }
    let zip = zip.into_inner();
    assert!(zip.len() < 1 << 20);
    let people = || async {
        sqlx::query_scalar!(r#"select count(*) as "n!" from person"#)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let before = people().await;
    let r = app
        .call_as("upload_roster", &kind, roster_upload(&zip), Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let state = finished_import(&app, &r.body, &admin).await;
    assert!(
        state.contains("came to more than the 1 MB Herald accepts"),
        "{state}"
    );
    assert_eq!(people().await, before, "nothing was imported");
}

/// Polls `app` for the import whose id `upload` (the upload's answer) names until it is rejected
/// (five seconds at most); returns its last state.
async fn finished_import(app: &TestApp, upload: &str, cookie: &str) -> String {
    let id = upload.trim_matches('"');
    let mut state = String::new();
    for _ in 0..100 {
        state = app
            .call("import_status", &format!("id={id}"), Some(cookie))
            .await
            .body;
        if state.contains("Rejected") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    state
}

/// Gives Tom Teacher a section with one student, Sam Lee, whose guardian is Pat Lee.
async fn tom_teaches_pats_child(pool: &PgPool, f: &Fixture) {
    sqlx::query!(
        r#"with s as (select id from school limit 1),
                c as (insert into course (sourced_id, title, school_id)
                      select 'c-1', 'Reading', id from s returning id),
                sec as (insert into section (sourced_id, title, course_id, school_id, calendar_id)
                        select 'sec-1', 'Reading 3', c.id, s.id, $1 from c, s returning id),
                sam as (insert into person (sourced_id, kind, given_name, family_name, grade_level)
                        values ('s-1', 'student', 'Sam', 'Lee', '3') returning id),
                link as (insert into guardian_student (guardian_id, student_id, relationship)
                         select $2, id, 'parent' from sam)
           insert into section_member (section_id, person_id, sourced_id, role)
           select sec.id, sam.id, 'e-1', 'student' from sec, sam
           union all
           select sec.id, p.id, 'e-2', 'teacher' from sec, person p where p.sourced_id = 't-1'"#,
        f.calendar,
        f.parent as PersonId
    )
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_is_told_a_person_outside_their_sections_is_not_found() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let f = district(&pool).await;
    let app = TestApp::spawn(pool.clone());
    let admin = app.sign_in("admin%40district.example", "pw-admin").await;
    let teacher = app
        .sign_in("teacher%40district.example", "pw-teacher")
        .await;
    let pat = format!("id={}", f.parent.0);

    let r = app.call("search_people", "query=lee", Some(&admin)).await;
    assert!(r.body.contains("Pat Lee"), "an admin finds Pat: {}", r.body);
    let r = app.call("search_people", "query=lee", Some(&teacher)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains("Pat Lee"), "{}", r.body);
    for function in ["person_card", "preference_history"] {
        let r = app.call(function, &pat, Some(&admin)).await;
        assert_eq!(r.status, StatusCode::OK, "{function} as admin: {}", r.body);
        let r = app.call(function, &pat, Some(&teacher)).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{function} as teacher: {}",
            r.body
        );
        assert!(!r.body.contains("pat@home.example"), "{}", r.body);
    }

    // Once Tom teaches Pat's child, he finds and opens them both.
    tom_teaches_pats_child(&pool, &f).await;
    let r = app.call("search_people", "query=lee", Some(&teacher)).await;
    assert!(
        r.body.contains("Pat Lee") && r.body.contains("Sam Lee"),
        "{}",
        r.body
    );
    for function in ["person_card", "preference_history"] {
        let r = app.call(function, &pat, Some(&teacher)).await;
        assert_eq!(r.status, StatusCode::OK, "{function}: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_routes_admit_district_admins_only_and_send_others_away() {
    use axum::body::Body;
    use axum::http::{Request, header};
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    district(&pool).await;
    let app = TestApp::spawn(pool.clone());
    let admin = app.sign_in("admin%40district.example", "pw-admin").await;
    let teacher = app
        .sign_in("teacher%40district.example", "pw-teacher")
        .await;
    let parent = app.sign_in("pat%40home.example", "pw-parent").await;
    let today = chrono::Utc::now().date_naive();
    let routes = [
        format!("/admin/messenger/messages/{NIL}/delivery.csv"),
        format!(
            "/admin/messenger/reports/utilization/extract?start={today}&end={today}&sent_to=email&format=csv"
        ),
    ];
    for route in routes {
        let get = |cookie: Option<&str>| {
            let mut req = Request::get(route.clone());
            if let Some(c) = cookie {
                req = req.header(header::COOKIE, c);
            }
            app.send(req.body(Body::empty()).unwrap())
        };
        let r = get(None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{route} signed out");
        assert_eq!(r.headers[header::LOCATION], "/sign-in", "{route}");
        for (who, cookie) in [("teacher", &teacher), ("parent", &parent)] {
            let r = get(Some(cookie)).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{route} as {who}");
            assert!(
                !r.body.contains(','),
                "{route} as {who}: no CSV: {}",
                r.body
            );
        }
        let r = get(Some(&admin)).await;
        let s = r.status.as_u16();
        assert!(
            s == 200 || s == 404,
            "{route} as admin: {} {}",
            r.status,
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_server_answers_an_imports_progress_and_one_whose_server_stopped_reads_as_interrupted()
{
    use std::io::Write;
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    district(&pool).await;
    // Two servers behind one load balancer: the upload goes to one, the polls to the other.
    let (one, other) = (TestApp::spawn(pool.clone()), TestApp::spawn(pool.clone()));
    let admin = one.sign_in("admin%40district.example", "pw-admin").await;
    let mut zip = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut zip);
        z.start_file("users.csv", zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(b"sourcedId\nu-1\n").unwrap();
        z.finish().unwrap();
    }
    let kind = format!("multipart/form-data; boundary={BOUNDARY}");
    let r = one
        .call_as(
            "upload_roster",
            &kind,
            roster_upload(&zip.into_inner()),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let state = finished_import(&other, &r.body, &admin).await;
    assert!(
        state.contains("Rejected") && state.contains("users.csv"),
        "{state}"
    );

    // A run whose server stopped mid-import: its heartbeat went quiet.
    let stopped = sqlx::query_scalar!(
        "insert into roster_import (stage, percent, heartbeat_at)
         values ('Writing person', 40, now() - interval '5 minutes') returning id"
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let r = other
        .call("import_status", &format!("id={stopped}"), Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("Interrupted") && r.body.contains("Writing person"),
        "{}",
        r.body
    );
}
