//! The worker delivering for real: emails into maildev (a real SMTP server) with the right
//! recipients, bodies and headers; portal notices; SMTP refusals; one-click unsubscribe; the
//! sender's confirmation; a clean stop that hands back what it holds.

use herald_testing::district;
use herald_testing::maildev;

use std::time::Duration;

use herald_core::domain::{ContactReason, Device, MessageId};
use herald_core::messaging::unsubscribe::{self, UnsubscribeKey};
use herald_core::messaging::{compose, sent_messages};
use herald_core::worker;
use sqlx::PgPool;

use district::{MAX_ATTEMPTS, district, send, settings, use_smtp};
use maildev::Maildev;

/// Runs a worker until the message is finished; panics if that takes over 60 s.
async fn run_worker_until_finished(pool: &PgPool, id: herald_core::domain::MessageId) {
    run_until_finished_within(pool, settings(30), id, Duration::from_secs(60)).await;
}

/// Waits until the message is finished or `within` passes; says whether it finished.
async fn finishes_within(
    pool: &PgPool,
    id: herald_core::domain::MessageId,
    within: Duration,
) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        let st = sent_messages::status(pool, id).await.unwrap().unwrap();
        if st.state == sent_messages::MessageState::Finished {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A header of a raw email (unfolded), by case-insensitive name.
fn header(source: &str, name: &str) -> Option<String> {
    let head = source.split("\r\n\r\n").next().unwrap_or_default();
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn emails_arrive_with_recipients_merged_bodies_and_unsubscribe_headers(pool: PgPool) {
    let smtp = Maildev::start().await;
    use_smtp(&pool, smtp.smtp_port).await;
    let d = district(&pool, 40).await;
    let id = send(
        &pool,
        &d,
        ContactReason::General,
        &[Device::Email, Device::Inbox],
    )
    .await;
    run_worker_until_finished(&pool, id).await;
    let st = sent_messages::status(&pool, id).await.unwrap().unwrap();
    let email = st
        .tallies
        .iter()
        .find(|t| t.device == Device::Email)
        .unwrap();
    assert!(email.total > 10);
    assert_eq!((email.sent, email.failed), (email.total, 0));
    let got = smtp
        .wait_for(email.total as usize, Duration::from_secs(10))
        .await;
    assert_eq!(got.len() as i64, email.total, "each email exactly once");

    // Pick a guardian of several students and read their email.
    let row = sqlx::query!(
        r#"select j.target, p.given_name || ' ' || p.family_name as "name!",
               array(select s.given_name || ' ' || s.family_name from person s
                     where s.id = any(r.student_ids) order by s.given_name) as "students!"
           from delivery_job j
           join message_recipient r on r.message_id = j.message_id and r.person_id = j.person_id
           join person p on p.id = j.person_id
           where j.message_id = $1 and j.device = 'email' and cardinality(r.student_ids) > 1
           limit 1"#,
        id.0
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let mail = got
        .iter()
        .find(|m| m["to"][0]["address"].as_str() == Some(row.target.as_str()))
        .expect("the guardian's email arrived");
    assert_eq!(
        mail["subject"].as_str().unwrap(),
        format!("Note for {}", row.name)
    );
    let text = mail["text"].as_str().unwrap();
    for s in &row.students {
        assert!(text.contains(s.as_str()), "{text} names {s}");
    }
    assert!(mail["html"].as_str().unwrap().contains("<p>Dear "));
    assert_eq!(
        mail["from"][0]["address"].as_str(),
        Some("messenger@district.example")
    );
    let source = smtp.source(mail["id"].as_str().unwrap()).await;
    let reply_to = header(&source, "reply-to").unwrap_or_default();
    assert!(reply_to.contains("office@district.example"), "{source}");
    let unsubscribe = header(&source, "list-unsubscribe").expect("List-Unsubscribe");
    assert!(
        unsubscribe.starts_with("<https://portal.district.example/unsubscribe/"),
        "{unsubscribe}"
    );
    assert_eq!(
        header(&source, "list-unsubscribe-post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let message_id = header(&source, "message-id").unwrap();
    assert!(
        message_id.contains(&id.to_string()) && message_id.ends_with("@district.example>"),
        "{message_id}"
    );

    // The link turns off exactly General for exactly that address.
    let token = unsubscribe
        .trim_end_matches('>')
        .rsplit('/')
        .next()
        .unwrap();
    let key = UnsubscribeKey::load(&pool).await.unwrap();
    let (method, reason) = key.verify(token).expect("a genuine token");
    assert_eq!(reason, ContactReason::General);
    assert_eq!(
        unsubscribe::apply(&pool, method, reason).await.unwrap(),
        unsubscribe::Unsubscribed::TurnedOff
    );
    let prefs = sqlx::query!(
        r#"select cm.email, cp.reason::text as "reason!", cp.enabled from contact_preference cp
           join contact_method cm on cm.id = cp.contact_method_id"#
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(prefs.len(), 1);
    assert_eq!(prefs[0].email.as_deref(), Some(row.target.as_str()));
    assert_eq!(
        (prefs[0].reason.as_str(), prefs[0].enabled),
        ("general", false)
    );

    // Every recipient got one portal notice naming their students.
    let inbox = st
        .tallies
        .iter()
        .find(|t| t.device == Device::Inbox)
        .unwrap();
    let notices: i64 = sqlx::query_scalar("select count(*) from portal_notice")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((inbox.sent, notices), (st.recipients, st.recipients));
    // Each shows on the portal with the message's HTML merged for its recipient.
    let people: Vec<herald_core::domain::PersonId> =
        sqlx::query_scalar("select person_id from portal_notice")
            .fetch_all(&pool)
            .await
            .unwrap();
    for person in people {
        let page =
            herald_core::messaging::notices::page(&pool, person, None, 5, "https://p.example")
                .await
                .unwrap();
        let html = page.notices[0].body_html.as_deref().unwrap_or_default();
        assert!(
            html.starts_with("<p>Dear ") && !html.contains("{{"),
            "{html}"
        );
    }
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn emergency_emails_carry_no_unsubscribe_link(pool: PgPool) {
    let smtp = Maildev::start().await;
    use_smtp(&pool, smtp.smtp_port).await;
    let d = district(&pool, 20).await;
    let id = send(&pool, &d, ContactReason::Emergency, &[Device::Email]).await;
    run_worker_until_finished(&pool, id).await;
    let got = smtp.wait_for(1, Duration::from_secs(10)).await;
    for m in &got {
        let source = smtp.source(m["id"].as_str().unwrap()).await;
        assert!(header(&source, "message-id").is_some());
        assert!(header(&source, "list-unsubscribe").is_none(), "{source}");
    }
}

/// The email jobs of a message: (status, attempts, last error).
async fn email_jobs(
    pool: &PgPool,
    id: herald_core::domain::MessageId,
) -> Vec<(String, i32, Option<String>)> {
    sqlx::query_as(
        "select status::text, attempts, last_error from delivery_job
         where message_id = $1 and device = 'email' order by id",
    )
    .bind(id.0)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The SMTP server errors recorded for the error list: (cause, detail).
async fn relay_errors(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as("select cause, detail from delivery_error where device = 'email' order by id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_relay_refusing_herald_holds_every_email_until_the_settings_are_fixed(pool: PgPool) {
    // This maildev demands a sign-in: first Herald has no credentials (530 to MAIL), then a
    // wrong password (refused at AUTH), then the right one.
    let smtp = Maildev::start_with(Some(("herald", "secret"))).await;
    use_smtp(&pool, smtp.smtp_port).await;
    let d = district(&pool, 20).await;
    let id = send(&pool, &d, ContactReason::General, &[Device::Email]).await;
    let drive = {
        let pool = pool.clone();
        async move {
            let waiting = |why: &'static str| {
                let pool = pool.clone();
                async move {
                    for _ in 0..200 {
                        let jobs = email_jobs(&pool, id).await;
                        if !jobs.is_empty()
                            && jobs.iter().all(|(status, attempts, error)| {
                                status == "retrying"
                                    && *attempts == 0
                                    && error.as_deref().is_some_and(|e| e.contains(why))
                            })
                        {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    panic!(
                        "the emails did not all wait on '{why}': {:?}",
                        email_jobs(&pool, id).await
                    );
                }
            };
            waiting("530").await;
            sqlx::query(
                "update email_settings set username = 'herald', password = 'wrong', updated_at = now()",
            )
            .execute(&pool)
            .await
            .unwrap();
            waiting("signing in to the SMTP server").await;
            sqlx::query("update email_settings set password = 'secret', updated_at = now()")
                .execute(&pool)
                .await
                .unwrap();
            assert!(
                finishes_within(&pool, id, Duration::from_secs(30)).await,
                "the message did not finish once the password was right"
            );
        }
    };
    worker::run(pool.clone(), settings(30), drive)
        .await
        .unwrap();
    let email = sent_messages::tally(&pool, id).await.unwrap()[0];
    assert_eq!(
        (email.sent, email.failed),
        (email.total, 0),
        "every email that waited went out, none failed"
    );
    assert_eq!(
        smtp.wait_for(email.sent as usize, Duration::from_secs(10))
            .await
            .len() as i64,
        email.sent
    );
    let errors = relay_errors(&pool).await;
    assert!(
        errors
            .iter()
            .any(|(c, d)| c == "credentials" && d.contains("530")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|(c, d)| c == "credentials" && d.contains("signing in")),
        "{errors:?}"
    );
    assert!(
        errors.len() <= 8,
        "recorded once per refused batch, not once per waiting email: {}",
        errors.len()
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_refused_recipient_fails_that_email_alone_with_the_servers_words(pool: PgPool) {
    use herald_testing::faulty_link::FaultyLink;
    let smtp = Maildev::start().await;
    let link = FaultyLink::start(smtp.smtp_port).await;
    use_smtp(&pool, link.port).await;
    let d = district(&pool, 20).await;
    let id = send(&pool, &d, ContactReason::General, &[Device::Email]).await;
    herald_core::messaging::fanout::fan_out_next(&pool)
        .await
        .unwrap()
        .unwrap();
    let refused: String = sqlx::query_scalar(
        "select target from delivery_job where message_id = $1 and device = 'email' order by id limit 1",
    )
    .bind(id.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    link.refuse_recipient(&refused);
    run_worker_until_finished(&pool, id).await;
    let jobs: Vec<(String, String, i32, Option<String>)> = sqlx::query_as(
        "select target, status::text, attempts, last_error from delivery_job
         where message_id = $1 and device = 'email'",
    )
    .bind(id.0)
    .fetch_all(&pool)
    .await
    .unwrap();
    for (target, status, attempts, error) in &jobs {
        if *target == refused {
            assert_eq!(
                (status.as_str(), *attempts),
                ("failed", 1),
                "failed at once"
            );
            let error = error.clone().unwrap_or_default();
            assert!(
                error.contains("refused the recipient") && error.contains("no such user"),
                "{error}"
            );
        } else {
            assert_eq!(status, "sent", "{target}: {error:?}");
        }
    }
    assert!(
        relay_errors(&pool).await.is_empty(),
        "nothing for the error list"
    );
    assert_eq!(
        smtp.wait_for(jobs.len() - 1, Duration::from_secs(10))
            .await
            .len(),
        jobs.len() - 1
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn an_unreachable_server_means_retry_later_not_failure(pool: PgPool) {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    use_smtp(&pool, port).await;
    let d = district(&pool, 20).await;
    let id = send(&pool, &d, ContactReason::General, &[Device::Email]).await;
    let mut s = settings(30);
    s.worker.backoff_seconds = 600;
    // Until every email has been tried once (or 20 s pass).
    let poll = pool.clone();
    let tried = async move {
        for _ in 0..200 {
            let troubled = sent_messages::troubled_jobs(&poll, id, 1000).await.unwrap();
            let email = sent_messages::tally(&poll, id).await.unwrap();
            if email
                .first()
                .is_some_and(|e| troubled.len() as i64 == e.total)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    worker::run(pool.clone(), s, tried).await.unwrap();
    let troubled = sent_messages::troubled_jobs(&pool, id, 1000).await.unwrap();
    let email = sent_messages::tally(&pool, id).await.unwrap()[0];
    assert_eq!(troubled.len() as i64, email.total);
    assert!(
        troubled.iter().all(|t| t.retrying),
        "connection refused is transient"
    );
    assert_eq!(email.failed, 0);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn the_sender_gets_a_confirmation_when_the_message_finishes(pool: PgPool) {
    let smtp = Maildev::start().await;
    use_smtp(&pool, smtp.smtp_port).await;
    let d = district(&pool, 20).await;
    let mut draft = district::draft(d.calendar, ContactReason::General, &[Device::Inbox]);
    draft.confirm_to_sender = true;
    let id = compose::create(&pool, &draft.compose().unwrap(), &d.sender)
        .await
        .unwrap();
    run_worker_until_finished(&pool, id).await;
    let s = settings(30);
    worker::run(pool.clone(), s, async {
        smtp.wait_for(1, Duration::from_secs(20)).await;
    })
    .await
    .unwrap();
    let got = smtp.emails().await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0]["to"][0]["address"].as_str(),
        Some("principal@district.example")
    );
    assert!(
        got[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("Delivery finished: Note for")
    );
    assert!(got[0]["text"].as_str().unwrap().contains("Portal inbox:"));
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_test_send_reaches_only_the_sender_rendered_for_the_chosen_recipient(pool: PgPool) {
    let smtp = Maildev::start().await;
    use_smtp(&pool, smtp.smtp_port).await;
    let d = district(&pool, 20).await;
    let (id, member) = district::test_send(&pool, &d, &[Device::Email]).await;
    run_worker_until_finished(&pool, id).await;
    let got = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0]["to"][0]["address"].as_str(),
        Some("principal@district.example")
    );
    assert_eq!(
        got[0]["subject"].as_str().unwrap(),
        format!("[Test] Note for {}", member.name)
    );
    // Nobody else got anything, and no notice was written.
    let notices: i64 = sqlx::query_scalar("select count(*) from portal_notice")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(notices, 0);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_stopping_worker_hands_back_every_job_it_holds(pool: PgPool) {
    let d = district(&pool, 40).await;
    // SMTP points at a server that never answers in time: a listener that accepts and stays
    // silent, so sends are in flight when the stop comes.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    use_smtp(&pool, silent.local_addr().unwrap().port()).await;
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            if let Ok((s, _)) = silent.accept().await {
                held.push(s);
            }
        }
    });
    let id = send(&pool, &d, ContactReason::General, &[Device::Email]).await;
    let mut s = settings(300);
    s.worker.smtp_connections = 2;
    // Connecting would time out only long after the stop (and its grace), so the sends are
    // still in flight when they are abandoned.
    s.worker.smtp_timeout_ms = 60_000;
    worker::run(pool.clone(), s, tokio::time::sleep(Duration::from_secs(2)))
        .await
        .unwrap();
    let leased: i64 =
        sqlx::query_scalar("select count(*) from delivery_job where status = 'leased'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(leased, 0, "nothing stays leased after a clean stop");
    // The worker did hold jobs when the stop came (a lease leaves its worker's id), and each is
    // back as it was before: queued, the attempt not counted, due now.
    let back = sqlx::query!(
        r#"select count(*) as "held!",
                  count(*) filter (where status = 'queued' and attempts = 0
                                   and due_at <= now()) as "as_before!"
           from delivery_job where message_id = $1 and leased_by is not null"#,
        id as MessageId
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(back.held > 0, "the worker held jobs when it stopped");
    assert_eq!(back.as_before, back.held);
    let email = sent_messages::tally(&pool, id).await.unwrap()[0];
    assert_eq!(email.sent, 0);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_portal_url_saved_alone_is_checked_and_leaves_the_rest_as_it_was(pool: PgPool) {
    use herald_core::config::SmtpOverrides;
    use herald_core::messaging::email_preferences;
    let before = email_preferences::load(&pool).await.unwrap();
    let refused = email_preferences::save_portal_url(&pool, "127.0.0.1:3100/portal")
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("Portal URL"), "{refused}");
    let saved = email_preferences::save_portal_url(&pool, " http://127.0.0.1:3100/portal/ ")
        .await
        .unwrap();
    assert_eq!(saved, "http://127.0.0.1:3100/portal");
    let url = email_preferences::portal_url(&pool, &SmtpOverrides::default())
        .await
        .unwrap();
    assert_eq!(url, "http://127.0.0.1:3100/portal");
    let after = email_preferences::load(&pool).await.unwrap();
    assert_eq!(after.smtp_host, before.smtp_host);
    assert_eq!(after.from_address, before.from_address);
}

/// Runs one worker with `s` until the message is finished; panics if that takes longer than
/// `within` or if the worker does not stop within a few seconds of being told to.
async fn run_until_finished_within(
    pool: &PgPool,
    s: herald_core::config::Config,
    id: herald_core::domain::MessageId,
    within: Duration,
) {
    let poll = pool.clone();
    let finished = async move {
        finishes_within(&poll, id, within).await;
    };
    tokio::time::timeout(
        within + Duration::from_secs(10),
        worker::run(pool.clone(), s, finished),
    )
    .await
    .expect("the worker stopped when told to")
    .unwrap();
    let st = sent_messages::status(pool, id).await.unwrap().unwrap();
    assert_eq!(
        st.state,
        sent_messages::MessageState::Finished,
        "the message did not finish within {within:?}"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_relay_that_stops_answering_mid_data_delays_emails_but_never_holds_the_lane(
    pool: PgPool,
) {
    use herald_testing::faulty_link::FaultyLink;
    let smtp = Maildev::start().await;
    let link = FaultyLink::start(smtp.smtp_port).await;
    // Both connections of the pool, and their first replacements, hang after DATA.
    link.stall_at_data(4);
    use_smtp(&pool, link.port).await;
    let d = district(&pool, 10).await;
    let id = send(&pool, &d, ContactReason::General, &[Device::Email]).await;
    let mut s = settings(30);
    s.worker.smtp_connections = 2;
    s.worker.smtp_timeout_ms = 500;
    run_until_finished_within(&pool, s, id, Duration::from_secs(30)).await;

    assert_eq!(link.stalled(), 4, "the relay hung four exchanges");
    let email = sent_messages::tally(&pool, id).await.unwrap()[0];
    assert_eq!(
        (email.sent, email.failed),
        (email.total, 0),
        "every email went out once the relay answered again"
    );
    let got = smtp
        .wait_for(email.total as usize, Duration::from_secs(5))
        .await;
    assert_eq!(got.len() as i64, email.total, "each email exactly once");
    let retried: i64 = sqlx::query_scalar(
        "select count(*) from delivery_attempt where detail like '%did not answer within 500 ms%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        retried, 4,
        "each hung exchange is one retried attempt, and says why"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn closing_the_mailer_never_waits_on_a_relay_that_stopped_answering(pool: PgPool) {
    use herald_core::config::SmtpOverrides;
    use herald_core::messaging::email::{self, Mailer, Outgoing, QUIT_DEADLINE};
    use herald_core::messaging::email_preferences;
    use herald_testing::faulty_link::FaultyLink;
    let smtp = Maildev::start().await;
    let link = FaultyLink::start(smtp.smtp_port).await;
    use_smtp(&pool, link.port).await;
    let config =
        email_preferences::smtp_config(&pool, &SmtpOverrides::default(), &Default::default())
            .await
            .unwrap();
    let mailer = Mailer::new(config, 1, Duration::from_secs(5));
    let out = Outgoing {
        to: "maria@example.org".into(),
        subject: "Snow day".into(),
        html: "<p>Closed</p>".into(),
        text: "Closed".into(),
        message_key: "close-test".into(),
        unsubscribe_url: None,
    };
    mailer
        .send(&email::build(mailer.config(), &out).unwrap())
        .await
        .unwrap();
    // The connection is back in the pool; now its relay goes silent, so QUIT is never answered.
    link.freeze();
    tokio::time::timeout(QUIT_DEADLINE + Duration::from_secs(3), mailer.close())
        .await
        .expect("close gave up on QUIT at its deadline");
    assert_eq!(smtp.emails().await.len(), 1);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn after_a_cancel_no_worker_delivers_what_a_dead_or_stopping_worker_held(pool: PgPool) {
    use herald_core::domain::JobId;
    use herald_core::messaging::{fanout, queue};
    use uuid::Uuid;
    let smtp = Maildev::start().await;
    use_smtp(&pool, smtp.smtp_port).await;
    let d = district(&pool, 20).await;
    let id = send(
        &pool,
        &d,
        ContactReason::General,
        &[Device::Email, Device::Inbox],
    )
    .await;
    fanout::fan_out_next(&pool).await.unwrap().unwrap();
    // One worker died holding every email (its leases have run out); another is stopping with
    // every inbox job in hand.
    let dead = Uuid::new_v4();
    let emails = queue::lease(&pool, Device::Email, dead, 60, 1000, MAX_ATTEMPTS)
        .await
        .unwrap();
    sqlx::query("update delivery_job set due_at = now() - interval '1 second' where id = any($1)")
        .bind(emails.iter().map(|j| j.id.0).collect::<Vec<_>>())
        .execute(&pool)
        .await
        .unwrap();
    let stopping = Uuid::new_v4();
    let notices = queue::lease(&pool, Device::Inbox, stopping, 60, 1000, MAX_ATTEMPTS)
        .await
        .unwrap();
    assert!(!emails.is_empty() && !notices.is_empty());
    compose::cancel(&pool, id).await.unwrap();
    let held: Vec<JobId> = notices.iter().map(|j| j.id).collect();
    queue::release(&pool, stopping, &held).await.unwrap();

    // A healthy worker runs on: it finds nothing of the canceled message to deliver.
    worker::run(
        pool.clone(),
        settings(30),
        tokio::time::sleep(Duration::from_secs(2)),
    )
    .await
    .unwrap();
    assert_eq!(smtp.emails().await.len(), 0, "no email after the cancel");
    let written: i64 = sqlx::query_scalar("select count(*) from portal_notice")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(written, 0, "no notice after the cancel");
    for t in sent_messages::tally(&pool, id).await.unwrap() {
        assert_eq!((t.sent, t.canceled), (0, t.total), "{:?}", t.device);
    }
}
