-- The phone dialer: its preferences, the calls placed for phone jobs, the shared pacing slot,
-- and the errors that need a person (reported by email to the error list, batched).

-- The Dialer Preferences page: one row. Environment settings override the provider fields.
create table dialer_settings (
    id boolean primary key default true check (id),
    -- The Twilio-compatible Programmable Voice API: Twilio, SignalWire, or Herald's local
    -- provider (`herald-worker voice-provider`) in development.
    api_url text not null default 'http://127.0.0.1:8089',
    account_sid text,
    auth_token text,
    -- The caller id calls are placed from.
    from_number text check (from_number ~ '^\+[1-9][0-9]{6,14}$'),
    -- A <Say> voice; its language goes with it (see herald_core::dialer::settings::VOICES).
    voice text not null default 'Polly.Joanna',
    -- Held across every worker together (see dialer_pace).
    calls_per_second double precision not null default 5 check (calls_per_second > 0 and calls_per_second <= 100),
    -- The district's calling hours, in its time zone; a message's dial window narrows them.
    calling_from time not null default '08:00',
    calling_until time not null default '21:00',
    ring_seconds integer not null default 30 check (ring_seconds between 5 and 120),
    -- A busy line or no answer is called again after this long, up to max_calls calls a job.
    retry_minutes integer not null default 10 check (retry_minutes between 1 and 1440),
    max_calls integer not null default 3 check (max_calls between 1 and 10),
    -- Wait for the beep and leave the message on an answering machine.
    leave_voicemail boolean not null default true,
    -- Who gets an email when placing calls fails for a reason a person must fix.
    error_emails text[] not null default '{}',
    updated_at timestamptz not null default now(),
    check (calling_from < calling_until)
);
insert into dialer_settings default values;

-- The calls-per-second cap, held across all workers: each call first reserves the next free
-- slot (one row, one short update), then waits for it.
create table dialer_pace (
    id boolean primary key default true check (id),
    next_slot timestamptz not null default now()
);
insert into dialer_pace default values;

-- One row per call placed for a phone job (a job called again after a busy line has several).
-- The row is written before the provider is asked, so a status callback that overtakes the
-- provider's answer still finds its call; the callback URL names the row's id.
create table phone_call (
    id uuid primary key default gen_random_uuid(),
    job_id bigint not null references delivery_job (id) on delete cascade,
    -- The job's attempt (lease count) that placed the call: only that attempt's call may end it.
    attempt integer not null,
    call_sid text unique,
    -- The provider's status: queued, ringing, in-progress, completed, busy, no-answer, failed,
    -- canceled ('placing' until the provider answers).
    status text not null default 'placing',
    -- human, machine_start, machine_end_beep, …, when answering-machine detection ran.
    answered_by text,
    duration_seconds integer,
    -- The highest callback SequenceNumber applied: an older or replayed callback changes nothing.
    sequence integer not null default -1,
    -- Why the call was not placed or did not reach anyone, in words for the delivery report.
    detail text,
    placed_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    -- Set with a final status; a final status is never changed.
    ended_at timestamptz,
    -- A cancel asked for the call to be hung up; a worker takes the request until
    -- hangup_due_at (another may take it after), tells the provider, and sets done.
    hangup_requested_at timestamptz,
    hangup_due_at timestamptz,
    hangup_done_at timestamptz,
    unique (job_id, attempt)
);
create index phone_call_job on phone_call (job_id);
create index phone_call_hangup on phone_call (hangup_requested_at) where hangup_requested_at is not null and hangup_done_at is null;

-- Jobs whose call is with the provider, by when to look the call up if no final callback came.
-- Small at any moment (the calls in progress), so cancels read it whole.
create index delivery_job_calling on delivery_job (due_at) where status = 'calling';

-- Errors that need a person (bad credentials, a provider outage, a refused caller id). Workers
-- write one row per failed attempt; the scheduler folds unreported rows into one error report.
create table dialer_error (
    id bigint generated always as identity primary key,
    at timestamptz not null default now(),
    cause text not null check (cause in ('credentials', 'outage', 'configuration')),
    detail text not null,
    job_id bigint,
    reported_at timestamptz
);
create index dialer_error_unreported on dialer_error (at) where reported_at is null;

-- One error report email; its jobs (kind 'error_report') carry the report's id as message_id.
create table error_report (
    id uuid primary key default gen_random_uuid(),
    created_at timestamptz not null default now(),
    subject text not null,
    body text not null,
    errors bigint not null
);
