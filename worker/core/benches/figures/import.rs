//! Import benchmark: generates a district (`HERALD_BENCH_STUDENTS`, default 100,000 students at
//! 30 schools; small: 300 at 2), imports it into a fresh database on `DATABASE_URL`'s server
//! (`herald_bench_import`, kept until the next run), imports it again (nothing changes), and
//! prints the figures.
//! Run: `cargo bench -p herald-core --bench figures -- import`.

use std::time::Instant;

use anyhow::Context;
use herald_core::dev::district::{self, DemoOptions};
use herald_core::oneroster::{self, ImportProgress};

use crate::support::{self, Scale};

pub async fn bench(scale: Scale) -> anyhow::Result<()> {
    let students: usize = scale.number("HERALD_BENCH_STUDENTS", 100_000, 300)?;
    let schools = scale.pick(30, 2);

    let dir = tempfile::tempdir().context("temp dir")?;
    let t = Instant::now();
    let stats = district::generate(
        &DemoOptions {
            seed: 7,
            schools,
            students,
        },
        dir.path(),
    )?;
    let generate = t.elapsed();

    let pool = support::fresh_database(&scale.database("import")).await?;

    let quiet = |_: ImportProgress| {};
    // Time spent per stage of the first import, from the progress reports.
    let stages = std::sync::Mutex::new(Vec::<(String, Instant)>::new());
    let record = |p: ImportProgress| {
        if let Ok(mut s) = stages.lock()
            && s.last().is_none_or(|(stage, _)| *stage != p.stage)
        {
            s.push((p.stage, Instant::now()));
        }
    };
    let t = Instant::now();
    let first = oneroster::import_path(&pool, dir.path(), &record).await?;
    let import = t.elapsed();
    let stages = stages.into_inner().unwrap_or_default();
    let t = Instant::now();
    let second = oneroster::import_path(&pool, dir.path(), &quiet).await?;
    let reimport = t.elapsed();
    let keys: i64 = sqlx::query_scalar(
        "select count(*) from pg_constraint where contype = 'f' and conrelid in ('score'::regclass, 'section_member'::regclass)",
    )
    .fetch_one(&pool)
    .await?;
    pool.close().await;

    let rows: u64 = first.tables.iter().map(|t| t.inserted).sum();
    println!("import benchmark: {students} students, {schools} schools");
    println!(
        "  generated   {:>9} students, {} guardians, {} staff, {} classes, {} enrollments, {} line items, {} results",
        stats.students,
        stats.guardians,
        stats.staff,
        stats.classes,
        stats.enrollments,
        stats.line_items,
        stats.results
    );
    println!("  generate    {:>8.2} s", generate.as_secs_f64());
    println!(
        "  import      {:>8.2} s  ({rows} rows, {:.0} rows/s)",
        import.as_secs_f64(),
        rows as f64 / import.as_secs_f64()
    );
    for pair in stages.windows(2) {
        println!(
            "    {:<28} {:>6.2} s",
            pair[0].0,
            (pair[1].1 - pair[0].1).as_secs_f64()
        );
    }
    println!(
        "  re-import   {:>8.2} s  (changed anything: {})",
        reimport.as_secs_f64(),
        second.changed_anything()
    );
    println!("  foreign keys on score and section_member after the import: {keys} of 4");
    Ok(())
}
