-- Which workers are running. Each `herald-worker run` checks in every ten seconds under its lease
-- identity (`delivery_job.leased_by`) and removes its row when it stops; the admin pages warn
-- when deliveries are waiting and no worker has checked in for a minute. Rows of workers that
-- died without stopping are removed after a day.
create table worker_heartbeat (
    worker_id uuid primary key,
    host text not null,
    pid integer not null,
    started_at timestamptz not null default now(),
    seen_at timestamptz not null default now()
);
