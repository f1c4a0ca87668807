//! The worker loop against a real PostgreSQL, with its ops listener (`/metrics`, `/healthz`).

use std::time::Duration;

use herald_core::accounts::{self, Role};
use herald_core::config::Config;
use herald_core::domain::EmailAddress;
use secrecy::SecretString;
use sqlx::PgPool;

/// A free local address for a worker's ops listener.
fn ops_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// GETs `path` on the ops listener at `addr` once it answers (five seconds at most): the status
/// and the body.
async fn ops_get(addr: &str, path: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("http://{addr}{path}")).send().await {
            let status = r.status().as_u16();
            return (status, r.text().await.unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the ops listener at {addr} never answered");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn the_worker_removes_expired_sessions_and_stops_when_asked(pool: PgPool) {
    let settings = Config::load_from(|_| None).unwrap();
    let email = EmailAddress::parse("ada@district.example").unwrap();
    let pw = SecretString::from("pw".to_string());
    accounts::create(&pool, &email, "Ada", &pw, Role::DistrictAdmin, None)
        .await
        .unwrap();
    let sign_in = || {
        accounts::sign_in(
            &pool,
            &settings.auth,
            "ada@district.example",
            &pw,
            herald_testing::HOME,
        )
    };
    let (_, live) = sign_in().await.unwrap();
    let (_, old) = sign_in().await.unwrap();
    sqlx::query!(
        "update auth_session set expires_at = now() - interval '1 minute' where token_hash = (select token_hash from auth_session order by created_at desc limit 1)"
    )
    .execute(&pool)
    .await
    .unwrap();
    let stop = tokio::time::sleep(Duration::from_millis(300));
    herald_core::worker::run(pool.clone(), settings, stop)
        .await
        .unwrap();
    let remaining = sqlx::query_scalar!(r#"select count(*) as "n!" from auth_session"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(remaining, 1);
    let live_ok = accounts::session_account(&pool, &live)
        .await
        .unwrap()
        .is_some();
    let old_ok = accounts::session_account(&pool, &old)
        .await
        .unwrap()
        .is_some();
    assert!(live_ok ^ old_ok, "exactly the expired one is gone");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_running_worker_checks_in_and_checks_out_when_it_stops(pool: PgPool) {
    use herald_core::heartbeat::{self, Workers};
    assert_eq!(
        heartbeat::status(&pool).await.unwrap(),
        Workers::Silent { last_seen: None }
    );
    let mut settings = Config::load_from(|_| None).unwrap();
    let ops = ops_address();
    settings.ops.listen = Some(ops.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(herald_core::worker::run(pool.clone(), settings, async {
        let _ = stop_rx.await;
    }));
    let mut seen = None;
    for _ in 0..100 {
        seen = Some(heartbeat::status(&pool).await.unwrap());
        if seen == Some(Workers::Running(1)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, Some(Workers::Running(1)), "checked in within 5 s");
    // A worker whose lanes make progress is healthy, and says how quiet each lane is.
    assert_eq!(ops_get(&ops, "/healthz").await, (200, "ok\n".to_string()));
    let (status, metrics) = ops_get(&ops, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "herald_lane_quiet_seconds{lane=\"email\"}",
        "herald_queue_jobs{device=\"email\",state=\"due\"} 0",
        "herald_jobs_ended{device=\"inbox\",outcome=\"sent\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    let host: String = sqlx::query_scalar!("select host from worker_heartbeat")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!host.is_empty());
    let _ = stop_tx.send(());
    run.await.unwrap().unwrap();
    assert_eq!(
        heartbeat::status(&pool).await.unwrap(),
        Workers::Silent { last_seen: None },
        "a worker that stops cleanly checks out"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_worker_that_died_is_silent_since_its_last_check_in_and_forgotten_after_a_day(
    pool: PgPool,
) {
    use herald_core::heartbeat::{self, Process, Workers};
    let process = Process {
        host: "worker-1".into(),
        pid: 7,
    };
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    heartbeat::beat(&pool, a, &process).await.unwrap();
    heartbeat::beat(&pool, b, &process).await.unwrap();
    heartbeat::beat(&pool, a, &process).await.unwrap();
    assert_eq!(heartbeat::status(&pool).await.unwrap(), Workers::Running(2));

    // Both stop beating; two minutes on, the pages call them silent since the later beat.
    sqlx::query!(
        "update worker_heartbeat set seen_at = now() - case when worker_id = $1 then interval '2 minutes' else interval '3 minutes' end",
        a
    )
    .execute(&pool)
    .await
    .unwrap();
    let Workers::Silent {
        last_seen: Some(last),
    } = heartbeat::status(&pool).await.unwrap()
    else {
        panic!("no worker checked in for two minutes");
    };
    let ago = chrono::Utc::now() - last;
    assert!(
        ago > chrono::TimeDelta::seconds(110) && ago < chrono::TimeDelta::seconds(130),
        "{ago}"
    );
    assert_eq!(heartbeat::forget_dead(&pool).await.unwrap(), 0);

    sqlx::query!(
        "update worker_heartbeat set seen_at = now() - interval '25 hours' where worker_id = $1",
        b
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(heartbeat::forget_dead(&pool).await.unwrap(), 1);
    // A worker that was only paused is back on its next beat.
    heartbeat::beat(&pool, b, &process).await.unwrap();
    assert_eq!(heartbeat::status(&pool).await.unwrap(), Workers::Running(1));
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_worker_whose_lanes_make_no_progress_says_it_is_stuck_and_stops_with_an_error(
    pool: PgPool,
) {
    use herald_core::heartbeat;
    use herald_core::worker::WorkerError;
    let mut settings = Config::load_from(|_| None).unwrap();
    settings.worker.poll_ms = 50;
    settings.worker.smtp_timeout_ms = 500;
    settings.worker.lane_deadline_seconds = 2;
    settings.worker.check().expect("settings a worker accepts");
    let ops = ops_address();
    settings.ops.listen = Some(ops.clone());
    // Every lane leases from (or fans out into) the job table: while another session holds it
    // locked, none of them finishes a pass, though the process and its heartbeat run on.
    let mut locker = pool.begin().await.unwrap();
    sqlx::query("lock table delivery_job in access exclusive mode")
        .execute(&mut *locker)
        .await
        .unwrap();
    let run = tokio::spawn(herald_core::worker::run(
        pool.clone(),
        settings,
        std::future::pending::<()>(),
    ));
    let mut stuck = None;
    for _ in 0..200 {
        let rows = heartbeat::list(&pool).await.unwrap();
        if let Some(row) = rows.iter().find(|w| w.stuck.is_some()) {
            assert!(!row.running, "a stuck worker is not running: {row:?}");
            stuck = row.stuck.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let why = stuck.expect("the worker recorded a stuck lane within 10 s");
    // A supervisor's health check says so too, naming the lane.
    let (status, body) = ops_get(&ops, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("lane showed no progress"), "{body}");
    assert!(
        why.contains("lane showed no progress for 2 s (the deadline is 2 s)")
            || why.contains("lane showed no progress for 3 s (the deadline is 2 s)"),
        "{why}"
    );
    locker.rollback().await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the worker stops once it is stuck")
        .unwrap();
    match ended {
        Err(WorkerError::Stuck(reason)) => assert_eq!(reason, why),
        other => panic!("the worker must stop with an error, not {other:?}"),
    }
    let rows = heartbeat::list(&pool).await.unwrap();
    assert_eq!(rows.len(), 1, "the stuck worker's row stays: {rows:?}");
    assert_eq!(rows[0].stuck.as_deref(), Some(why.as_str()));
    assert_eq!(
        heartbeat::status(&pool).await.unwrap(),
        heartbeat::Workers::Silent {
            last_seen: Some(rows[0].seen_at)
        }
    );
}
