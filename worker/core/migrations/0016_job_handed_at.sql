-- When the worker holding a job handed it to the SMTP server or the voice provider (null until
-- then, and again whenever the job is leased afresh or handed back). A cancel takes every job of
-- the message that is not handed over: queued, retrying, leased and not yet handed, or handed
-- by a worker whose lease has run out (a dead worker's). A job handed over under a live lease
-- ends as its worker says, so a job is delivered or canceled, never both.
alter table delivery_job add column handed_at timestamptz;
