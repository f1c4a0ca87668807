-- Roster import progress lives in PostgreSQL (issue 13, point 9), not in the memory of the server
-- that runs the import: behind a load balancer any server answers the progress poll, and a server
-- stopped mid-import leaves a run whose heartbeat has gone quiet, which reads as "interrupted"
-- (the import itself is one transaction, so nothing of it was written).
create table roster_import (
    id uuid primary key default gen_random_uuid(),
    started_by uuid references account (id) on delete set null,
    started_at timestamptz not null default now(),
    stage text not null default 'Queued',
    percent smallint not null default 0 check (percent between 0 and 100),
    -- Moved at least every few seconds while the import runs.
    heartbeat_at timestamptz not null default now(),
    finished_at timestamptz,
    outcome text check (outcome in ('loaded', 'rejected')),
    -- The summary (loaded) or every problem (rejected), a line each.
    lines text[] not null default '{}',
    check ((finished_at is null) = (outcome is null))
);
create index roster_import_started on roster_import (started_at desc);
