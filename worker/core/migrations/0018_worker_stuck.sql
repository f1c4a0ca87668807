-- A worker whose lane stopped making progress (it panicked, or finished no pass within its
-- deadline) writes why here and exits non-zero, so that its supervisor restarts it; the row stays
-- (it does not check out) so the Overview and `herald-worker status` say what happened.
alter table worker_heartbeat add column stuck text;
