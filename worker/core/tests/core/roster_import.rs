//! The OneRoster importer against a real PostgreSQL: counts, idempotence, updates, every kind of
//! bad input (each named by file, line and field, with nothing written), zips, household phones.

use std::path::Path;

use herald_core::contact_preferences::{self as preferences, ChangedBy};
use herald_core::dev::district::{self, DemoOptions};
use herald_core::domain::{ContactMethodId, ContactReason, PersonId};
use herald_core::oneroster::{self, ImportError, ImportProgress, ImportSummary, RowError};
use sqlx::PgPool;

fn quiet(_: ImportProgress) {}

fn small_district(dir: &Path) -> district::DemoStats {
    let opts = DemoOptions {
        seed: 11,
        schools: 3,
        students: 60,
    };
    district::generate(&opts, dir).expect("demo district is written")
}

async fn import(pool: &PgPool, dir: &Path) -> Result<ImportSummary, ImportError> {
    oneroster::import_path(pool, dir, &quiet).await
}

/// Rewrites one CSV file: `edit` gets the rows (header first) to change in place.
pub(crate) fn edit_csv(dir: &Path, file: &str, edit: impl FnOnce(&mut Vec<Vec<String>>)) {
    let path = dir.join(file);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(&path)
        .unwrap();
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    edit(&mut rows);
    let mut writer = csv::Writer::from_path(&path).unwrap();
    for r in rows {
        writer.write_record(&r).unwrap();
    }
    writer.flush().unwrap();
}

pub(crate) fn column(rows: &[Vec<String>], name: &str) -> usize {
    rows[0].iter().position(|c| c == name).unwrap()
}

fn invalid(result: Result<ImportSummary, ImportError>) -> Vec<RowError> {
    match result {
        Err(ImportError::Invalid { rows, .. }) => rows,
        other => panic!("expected the import to be refused, got {other:?}"),
    }
}

async fn people(pool: &PgPool) -> i64 {
    sqlx::query_scalar!(r#"select count(*) as "n!" from person"#)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn districts(pool: &PgPool) -> i64 {
    sqlx::query_scalar!(r#"select count(*) as "n!" from district"#)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Asserts exactly one error at file/line/field, and that nothing at all was written.
async fn refused_at(pool: &PgPool, dir: &Path, file: &str, line: u64, field: &str) -> RowError {
    let errors = invalid(import(pool, dir).await);
    let hit = errors
        .iter()
        .find(|e| e.file == file && e.line == line && e.field == field)
        .unwrap_or_else(|| panic!("no error at {file} line {line} field {field}: {errors:#?}"))
        .clone();
    assert_eq!(people(pool).await, 0, "nothing may be half-imported");
    assert_eq!(districts(pool).await, 0, "nothing may be half-imported");
    hit
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_generated_district_imports_with_the_expected_counts(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let stats = small_district(dir.path());
    let summary = import(&pool, dir.path()).await.unwrap();
    let people_expected = (stats.students + stats.guardians + stats.staff) as u64;
    assert_eq!(summary.table("person").unwrap().inserted, people_expected);
    assert_eq!(
        summary.table("section").unwrap().inserted,
        stats.classes as u64
    );
    assert_eq!(
        summary.table("section_member").unwrap().inserted,
        stats.enrollments as u64
    );
    assert_eq!(
        summary.table("assignment").unwrap().inserted,
        stats.line_items as u64
    );
    assert_eq!(
        summary.table("score").unwrap().inserted,
        stats.results as u64
    );
    assert_eq!(summary.table("calendar").unwrap().inserted, 3);
    let enrolled = sqlx::query_scalar!(r#"select count(*) as "n!" from enrollment"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        enrolled, stats.students as i64,
        "each student is enrolled in one calendar"
    );
    let admin = sqlx::query_scalar!(
        r#"select p.kind::text as "kind!" from contact_method cm join person p on p.id = cm.person_id
           where cm.email = 'admin@demo.herald.test'"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(admin, "staff");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn reimporting_the_same_files_changes_nothing(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    small_district(dir.path());
    import(&pool, dir.path()).await.unwrap();
    let stamp = sqlx::query_scalar!(r#"select max(updated_at) as "t!" from person"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    let again = import(&pool, dir.path()).await.unwrap();
    assert!(!again.changed_anything(), "{again}");
    let stamp_after = sqlx::query_scalar!(r#"select max(updated_at) as "t!" from person"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stamp, stamp_after);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_changed_row_updates_exactly_that_row(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    small_district(dir.path());
    import(&pool, dir.path()).await.unwrap();
    edit_csv(dir.path(), "users.csv", |rows| {
        let given = column(rows, "givenName");
        let row = rows.iter_mut().find(|r| r[0] == "gdn-000002").unwrap();
        row[given] = "Renamed".into();
    });
    let summary = import(&pool, dir.path()).await.unwrap();
    let person = summary.table("person").unwrap();
    assert_eq!((person.inserted, person.updated), (0, 1), "{summary}");
    assert_eq!(
        summary
            .tables
            .iter()
            .map(|t| t.inserted + t.updated)
            .sum::<u64>(),
        1,
        "{summary}"
    );
    let name = sqlx::query_scalar!("select given_name from person where sourced_id = 'gdn-000002'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "Renamed");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_missing_column_is_named_on_the_header_line(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    small_district(dir.path());
    edit_csv(dir.path(), "classes.csv", |rows| {
        let c = column(rows, "courseSourcedId");
        for r in rows.iter_mut() {
            r.remove(c);
        }
    });
    let e = refused_at(&pool, dir.path(), "classes.csv", 1, "courseSourcedId").await;
    assert!(e.message.contains("no 'courseSourcedId' column"), "{e}");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_missing_required_field_is_named_with_its_line(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    small_district(dir.path());
    edit_csv(dir.path(), "users.csv", |rows| {
        let c = column(rows, "familyName");
        rows[5][c] = String::new();
    });
    let e = refused_at(&pool, dir.path(), "users.csv", 6, "familyName").await;
    assert!(e.message.contains("required"), "{e}");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn an_unknown_reference_is_named_with_its_line(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    small_district(dir.path());
    edit_csv(dir.path(), "enrollments.csv", |rows| {
        let c = column(rows, "classSourcedId");
        rows[3][c] = "cls-nowhere".into();
    });
    let e = refused_at(&pool, dir.path(), "enrollments.csv", 4, "classSourcedId").await;
    assert!(e.message.contains("'cls-nowhere' is not a class"), "{e}");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_bad_date_is_named_with_its_line(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    small_district(dir.path());
    edit_csv(dir.path(), "lineItems.csv", |rows| {
        let c = column(rows, "dueDate");
        rows[2][c] = "10/12/2026".into();
    });
    let e = refused_at(&pool, dir.path(), "lineItems.csv", 3, "dueDate").await;
    assert!(e.message.contains("YYYY-MM-DD"), "{e}");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_duplicate_sourced_id_is_named_with_both_lines(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    small_district(dir.path());
    edit_csv(dir.path(), "users.csv", |rows| {
        let first = rows[2][0].clone();
        rows[7][0] = first;
    });
    let e = refused_at(&pool, dir.path(), "users.csv", 8, "sourcedId").await;
    assert!(e.message.contains("duplicate (first on line 3)"), "{e}");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_bad_email_or_phone_is_named_with_its_line(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    small_district(dir.path());
    edit_csv(dir.path(), "users.csv", |rows| {
        let email = column(rows, "email");
        let phone = column(rows, "phone");
        rows[3][email] = "pat@".into();
        rows[4][phone] = "555-01".into();
    });
    let errors = invalid(import(&pool, dir.path()).await);
    assert!(
        errors
            .iter()
            .any(|e| (e.line, e.field.as_str()) == (4, "email")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| (e.line, e.field.as_str()) == (5, "phone")),
        "{errors:#?}"
    );
    assert_eq!(people(&pool).await, 0);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_bad_row_in_a_later_import_leaves_the_earlier_import_untouched(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    small_district(dir.path());
    import(&pool, dir.path()).await.unwrap();
    let before = people(&pool).await;
    edit_csv(dir.path(), "users.csv", |rows| {
        let given = column(rows, "givenName");
        let grades = column(rows, "role");
        rows[2][given] = "Changed".into();
        rows[9][grades] = "wizard".into();
    });
    let errors = invalid(import(&pool, dir.path()).await);
    assert!(
        errors
            .iter()
            .any(|e| (e.line, e.field.as_str()) == (10, "role")),
        "{errors:#?}"
    );
    assert_eq!(people(&pool).await, before);
    let changed =
        sqlx::query_scalar!(r#"select count(*) as "n!" from person where given_name = 'Changed'"#)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        changed, 0,
        "the valid change in the refused file must not be written either"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_zip_of_the_files_imports_like_the_folder(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let stats = small_district(dir.path());
    let mut bytes = Vec::new();
    {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(&mut bytes));
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let entry = entry.unwrap();
            let name = format!("export/{}", entry.file_name().to_string_lossy());
            zip.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut zip, &std::fs::read(entry.path()).unwrap()).unwrap();
        }
        zip.finish().unwrap();
    }
    let summary = oneroster::import_zip_bytes(&pool, bytes, u64::MAX, &quiet)
        .await
        .unwrap();
    assert_eq!(
        summary.table("score").unwrap().inserted,
        stats.results as u64
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn guardians_sharing_a_phone_get_one_household_phone(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "orgs.csv",
        "sourcedId,name,type,parentSourcedId\nd1,District,district,\ns1,School,school,d1\n",
    );
    write(
        "academicSessions.csv",
        "sourcedId,title,type,startDate,endDate,schoolYear\ny1,2026-27,schoolYear,2026-08-24,2027-06-04,2027\n",
    );
    write(
        "users.csv",
        "sourcedId,role,givenName,familyName,email,sms,phone,agentSourcedIds,grades,orgSourcedIds\n\
         st1,student,Ana,Lee,,,,\"g1,g2\",03,s1\n\
         st2,student,Ben,Lee,,,,g1,05,s1\n\
         g1,parent,Pat,Lee,pat@example.org,(612) 555-0101,(612) 555-0199,,,s1\n\
         g2,guardian,Sam,Lee,,,(612) 555-0199,,,s1\n\
         g3,parent,Kim,Park,,,(612) 555-0199,,,s1\n",
    );
    import(&pool, dir.path()).await.unwrap();
    let household_phones = sqlx::query_scalar!(
        r#"select count(*) as "n!" from contact_method where household_id is not null and phone = '+16125550199'"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(household_phones, 1, "g1 and g2 share one household phone");
    let own = sqlx::query_scalar!(
        r#"select count(*) as "n!" from contact_method cm join person p on p.id = cm.person_id
           where cm.phone = '+16125550199'"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        own, 1,
        "g3, in another household, keeps the number as their own"
    );
    let households = sqlx::query_scalar!(
        r#"select count(distinct household_id) as "n!" from person where sourced_id in ('st1', 'st2', 'g1', 'g2')"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        households, 1,
        "linked students and guardians form one household"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_changed_email_replaces_the_old_address_and_a_dropped_link_is_removed(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    small_district(dir.path());
    import(&pool, dir.path()).await.unwrap();
    edit_csv(dir.path(), "users.csv", |rows| {
        let email = column(rows, "email");
        let agents = column(rows, "agentSourcedIds");
        let guardian = rows.iter_mut().find(|r| r[0] == "gdn-000001").unwrap();
        guardian[email] = "new.address@example.org".into();
        guardian[agents] = String::new();
        // The students no longer name gdn-000001 either.
        for r in rows.iter_mut().skip(1) {
            let kept: Vec<&str> = r[agents]
                .split(',')
                .filter(|a| *a != "gdn-000001")
                .collect();
            r[agents] = kept.join(",");
        }
    });
    import(&pool, dir.path()).await.unwrap();
    let emails = sqlx::query!(
        r#"select cm.email as "email!", cm.removed_at is not null as "removed!"
           from contact_method cm join person p on p.id = cm.person_id
           where p.sourced_id = 'gdn-000001' and cm.email is not null
           order by cm.removed_at nulls first"#
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let emails: Vec<(&str, bool)> = emails
        .iter()
        .map(|e| (e.email.as_str(), e.removed))
        .collect();
    assert_eq!(emails.len(), 2, "{emails:?}");
    assert_eq!(
        emails[0],
        ("new.address@example.org", false),
        "the new address is current"
    );
    assert!(
        emails[1].1,
        "the old address is kept, marked removed: {emails:?}"
    );
    let links = sqlx::query_scalar!(
        r#"select count(*) as "n!" from guardian_student gs join person g on g.id = gs.guardian_id
           where g.sourced_id = 'gdn-000001'"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(links, 0);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_phone_left_out_of_one_export_keeps_its_opt_outs_consent_and_history_for_when_it_returns(
    pool: PgPool,
) {
    let dir = tempfile::tempdir().unwrap();
    small_district(dir.path());
    import(&pool, dir.path()).await.unwrap();
    let cell = sqlx::query!(
        r#"select p.id as "person: PersonId", p.sourced_id, cm.id as "method: ContactMethodId"
           from contact_method cm join person p on p.id = cm.person_id
           where p.kind = 'guardian' and cm.sms_capable
           order by p.sourced_id limit 1"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let owner = ChangedBy::Portal("parent@home.example".into());
    preferences::set(
        &pool,
        cell.person,
        cell.method,
        ContactReason::General,
        false,
        &owner,
    )
    .await
    .unwrap();
    preferences::consent_to_texts(
        &pool,
        cell.person,
        cell.method,
        |p| format!("Texts to {p}"),
        &owner,
    )
    .await
    .unwrap();
    let listed = |pool: PgPool| async move {
        preferences::of_person(&pool, cell.person)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.id == cell.method)
    };

    // The SIS export leaves the cell phone out: Herald stops listing it...
    edit_csv(dir.path(), "users.csv", |rows| {
        let sms = column(rows, "sms");
        let row = rows.iter_mut().find(|r| r[0] == cell.sourced_id).unwrap();
        row[sms] = String::new();
    });
    import(&pool, dir.path()).await.unwrap();
    assert!(
        listed(pool.clone()).await.is_none(),
        "a removed phone is not listed"
    );
    // ...but keeps the consent and the history the district must keep.
    let consents = preferences::consents(&pool, cell.person).await.unwrap();
    assert_eq!(consents.len(), 1, "the consent record is kept");
    assert!(consents[0].withdrawn.is_none());
    let history = preferences::history(&pool, cell.person, 50).await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.reason == ContactReason::General && h.new == Some(false) && h.by == owner),
        "the opt-out stays in the history: {history:?}"
    );

    // The next export lists it again: the parent's own choices are back, not the defaults.
    small_district(dir.path());
    import(&pool, dir.path()).await.unwrap();
    let back = listed(pool.clone())
        .await
        .expect("the phone is listed again");
    let general = back
        .reasons
        .iter()
        .find(|r| r.reason == ContactReason::General)
        .unwrap();
    assert!(!general.enabled, "the opt-out holds: {back:?}");
    assert!(
        matches!(back.texts, preferences::Texts::On { .. }),
        "text messages stay consented: {back:?}"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn an_import_run_reports_its_progress_and_reads_as_interrupted_once_its_heartbeat_goes_quiet(
    pool: PgPool,
) {
    use herald_core::oneroster::runs::{self, RunState};
    let run = runs::start(&pool, admin_account(&pool).await)
        .await
        .unwrap();
    let (report, progress) = tokio::sync::watch::channel(ImportProgress {
        stage: "Queued".into(),
        percent: 0,
    });
    let tracker = tokio::spawn(runs::track(pool.clone(), run, progress));
    report.send_replace(ImportProgress {
        stage: "Writing person".into(),
        percent: 40,
    });
    let mut seen = None;
    for _ in 0..100 {
        seen = runs::state(&pool, run).await.unwrap();
        if matches!(&seen, Some(RunState::Running { percent: 40, .. })) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        seen,
        Some(RunState::Running {
            stage: "Writing person".into(),
            percent: 40
        })
    );
    // The server stops: no more heartbeats.
    tracker.abort();
    sqlx::query!(
        "update roster_import set heartbeat_at = now() - interval '31 seconds' where id = $1",
        run
    )
    .execute(&pool)
    .await
    .unwrap();
    assert!(matches!(
        runs::state(&pool, run).await.unwrap(),
        Some(RunState::Interrupted { stage, .. }) if stage == "Writing person"
    ));
    drop(report);
    // An unknown run is no run.
    assert_eq!(
        runs::state(&pool, uuid::Uuid::new_v4()).await.unwrap(),
        None
    );
}

async fn admin_account(pool: &PgPool) -> herald_core::domain::AccountId {
    herald_core::accounts::create(
        pool,
        &herald_core::domain::EmailAddress::parse("admin@district.example").unwrap(),
        "Ada Admin",
        &secrecy::SecretString::from("pw".to_string()),
        herald_core::accounts::Role::DistrictAdmin,
        None,
    )
    .await
    .unwrap()
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn an_enrollment_dropped_from_the_export_ends_its_teachers_view_of_that_student(
    pool: PgPool,
) {
    use herald_core::directory::{self, PeopleScope};
    let dir = tempfile::tempdir().unwrap();
    small_district(dir.path());
    import(&pool, dir.path()).await.unwrap();
    // A student in exactly one class, and that class's teacher.
    let pair = sqlx::query!(
        r#"select s.sourced_id as "enrollment!", s.person_id as "student!: PersonId",
                  t.person_id as "teacher!: PersonId"
           from section_member s
           join section_member t on t.section_id = s.section_id and t.role = 'teacher'
           where s.role = 'student'
             and (select count(*) from section_member o
                  where o.person_id = s.person_id and o.role = 'student') = 1
           order by s.sourced_id limit 1"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let scope = PeopleScope::TaughtBy(pair.teacher);
    assert!(
        directory::in_scope(&pool, pair.student, scope)
            .await
            .unwrap()
    );

    edit_csv(dir.path(), "enrollments.csv", |rows| {
        rows.retain(|r| r[0] != pair.enrollment);
    });
    let summary = import(&pool, dir.path()).await.unwrap();
    assert_eq!(
        summary.table("section_member").unwrap().updated,
        1,
        "the one removed enrollment"
    );
    assert!(
        !directory::in_scope(&pool, pair.student, scope)
            .await
            .unwrap(),
        "the teacher no longer sees a student they no longer teach"
    );
}
