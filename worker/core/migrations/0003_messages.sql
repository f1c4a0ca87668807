-- The message pipeline: messages, their recipients, delivery jobs (the queue), portal notices,
-- the email preferences, and per-message counters.
--
-- A message is composed by an admin and fanned out by a worker, once, into delivery jobs: one
-- per recipient × device × contact method allowed by that person's contact preferences. Workers
-- lease jobs with `for update skip locked`; a leased job's `due_at` is its lease deadline, so a
-- job whose worker died becomes due again when the lease runs out, with no second index.

create type delivery_device as enum ('email', 'inbox', 'phone');
create type audience_kind as enum ('guardians', 'staff');
create type job_status as enum ('queued', 'leased', 'retrying', 'sent', 'failed', 'canceled');
-- What a job delivers: the message itself, a test copy to its sender, or the sender's
-- confirmation that the message finished.
create type job_kind as enum ('message', 'test', 'confirmation');

create table message (
    id uuid primary key default gen_random_uuid(),
    sender_account_id uuid references account (id) on delete set null,
    sender_name text not null,
    sender_email text not null,
    reason contact_reason not null,
    subject text not null,
    body_html text not null,
    body_text text not null,
    inbox_text text not null,
    voice_script text not null,
    audience audience_kind not null,
    calendar_id uuid not null references calendar (id),
    -- Every school's calendar of the same school year, not only calendar_id's (a district-wide
    -- message: a closure, an emergency).
    all_schools boolean not null default false,
    -- Empty: every grade level.
    grade_levels text[] not null default '{}',
    devices delivery_device[] not null check (cardinality(devices) > 0),
    -- "Start delivery on": nothing is fanned out before this.
    start_at timestamptz not null,
    -- "Send emails at": when email jobs become due (null: at start_at).
    email_at timestamptz,
    -- The dial window, in the district's time zone (the dialer issue delivers phone jobs).
    dial_from time,
    dial_until time,
    confirm_to_sender boolean not null default false,
    -- A test copy sent to the sender from the compose page; not a send to the audience.
    is_test boolean not null default false,
    created_at timestamptz not null default now(),
    -- Fan-out runs in steps (see herald_core::messaging::fanout): the worker holding the claim
    -- until fan_out_until writes the recipients (recipients_at), then each device's jobs.
    fan_out_by uuid,
    fan_out_until timestamptz,
    recipients_at timestamptz,
    fanned_out_at timestamptz,
    finished_at timestamptz,
    canceled_at timestamptz,
    check ((dial_from is null) = (dial_until is null)),
    check (dial_from is null or dial_from < dial_until)
);
-- Workers find messages to fan out or to finish through these two partial indexes.
create index message_to_fan_out on message (start_at) where fanned_out_at is null and canceled_at is null;
create index message_unfinished on message (id) where fanned_out_at is not null and finished_at is null;
create index message_calendar_created on message (calendar_id, created_at desc);

-- Who the message was for, with the students it concerns (a guardian of three gets one email
-- naming all three).
--
-- Like every table a fan-out fills, it has no foreign key to message: a district-wide fan-out
-- writes 300,000 rows in one statement and the per-row key check would double its cost. Only
-- fan-out writes these rows, holding the message row locked, and messages are never deleted.
create table message_recipient (
    message_id uuid not null,
    -- A record of who was addressed; like delivery_job, not tied to later roster changes.
    person_id uuid not null,
    student_ids uuid[] not null default '{}',
    primary key (message_id, person_id)
);

-- Why a recipient got nothing on a device: no address on file, or every address opted out.
create table message_unreached (
    message_id uuid not null,
    person_id uuid not null,
    device delivery_device not null,
    cause text not null check (cause in ('no_email', 'no_phone', 'opted_out', 'not_emergency_contact')),
    primary key (message_id, person_id, device)
);

-- The queue. Every transition leaves a timestamp: created_at (queued), leased_at, sent_at,
-- failed_at, canceled_at; each failed attempt also leaves a row in delivery_attempt.
create table delivery_job (
    id bigint generated always as identity primary key,
    message_id uuid not null,
    kind job_kind not null default 'message',
    device delivery_device not null,
    -- Whose merge data the job renders (null for a confirmation to the sender). No foreign keys
    -- to the roster: a job is a record of what was sent, and checking two keys per row would
    -- double the cost of fanning out a 400,000-job message.
    person_id uuid,
    contact_method_id uuid,
    -- The address: an email address, an E.164 number, or the person id for the inbox.
    target text not null,
    status job_status not null default 'queued',
    -- When the job may next be leased; while leased, the lease deadline.
    due_at timestamptz not null,
    attempts integer not null default 0,
    leased_by uuid,
    created_at timestamptz not null default now(),
    leased_at timestamptz,
    sent_at timestamptz,
    failed_at timestamptz,
    canceled_at timestamptz,
    last_error text
);
-- The lease index: only jobs that are still to be delivered, per device lane. Canceling a
-- message's waiting jobs reads it too.
create index delivery_job_due on delivery_job (device, due_at) where status in ('queued', 'leased', 'retrying');
-- A message's failures, for its status page. Deliberately no index on message_id alone: counts
-- come from message_tally, and each index on this table costs a fan-out a tenth of a second
-- per 100,000 jobs.
create index delivery_job_trouble on delivery_job (message_id) where status in ('failed', 'retrying');

create table delivery_attempt (
    job_id bigint not null references delivery_job (id) on delete cascade,
    attempt integer not null,
    at timestamptz not null default now(),
    outcome job_status not null check (outcome in ('retrying', 'failed')),
    detail text not null,
    primary key (job_id, attempt)
);

-- Counters per message and device, moved by the same statements that move jobs, so a status
-- page reads a handful of rows instead of counting a 250,000-job message.
create table message_tally (
    message_id uuid not null references message (id) on delete cascade,
    device delivery_device not null,
    total bigint not null default 0,
    sent bigint not null default 0,
    failed bigint not null default 0,
    canceled bigint not null default 0,
    primary key (message_id, device),
    check (sent + failed + canceled <= total)
);

-- Notices on the parent portal. One per inbox job at most: a retried job never makes a second.
-- Written 1,000 at a time by the inbox lane; like the queue tables it checks no foreign keys per
-- row (its job, message and person are the delivering job's own).
create table portal_notice (
    id uuid primary key default gen_random_uuid(),
    person_id uuid not null,
    message_id uuid not null,
    job_id bigint not null unique,
    reason contact_reason not null,
    subject text not null,
    body text not null,
    created_at timestamptz not null default now(),
    read_at timestamptz
);
create index portal_notice_person on portal_notice (person_id, created_at desc);

-- The Email Preferences page: one row. Environment settings override it field by field.
create table email_settings (
    id boolean primary key default true check (id),
    smtp_host text not null default '127.0.0.1',
    smtp_port integer not null default 1025 check (smtp_port between 1 and 65535),
    tls text not null default 'none' check (tls in ('none', 'starttls', 'tls')),
    username text,
    password text,
    from_address text not null default 'messenger@demo.herald.test',
    from_name text not null default 'Herald Messenger',
    reply_to text,
    portal_url text not null default 'http://127.0.0.1:3000/portal',
    updated_at timestamptz not null default now()
);
insert into email_settings default values;

-- Keys the server and workers share (the unsubscribe-link HMAC key), made once on first use.
create table app_secret (
    name text primary key,
    value bytea not null check (length(value) >= 32)
);

-- A message's audience, defined once for the preview count, the recipient picker and the
-- fan-out: guardians who are messenger contacts of active students enrolled in the calendar (or,
-- with p_all_schools, in any calendar of its school year), optionally only some grade levels,
-- each with the students they hear about; or staff with a district assignment at the calendar's
-- school (any school with p_all_schools) or district-wide. A simple SQL function, so the planner
-- inlines it into each caller.
create function audience_of(
    p_calendar uuid, p_all_schools boolean, p_audience audience_kind, p_grades text[]
)
returns table (person_id uuid, student_ids uuid[])
language sql stable
as $$
    select gs.guardian_id, array_agg(distinct gs.student_id)
    from enrollment e
    join guardian_student gs on gs.student_id = e.student_id and gs.messenger_contact
    join person s on s.id = e.student_id and s.active
    join person g on g.id = gs.guardian_id and g.active
    where p_audience = 'guardians'
      -- The calendars as an array: the planner then sees how many enrollments it reads and
      -- hash-joins a district-wide audience (nested loops took five times as long).
      and e.calendar_id = any (array(
          select c.id from calendar chosen
          join calendar c on c.id = chosen.id or (p_all_schools and c.school_year = chosen.school_year)
          where chosen.id = p_calendar))
      and (e.end_date is null or e.end_date >= current_date)
      and (cardinality(p_grades) = 0 or e.grade_level = any(p_grades))
    group by gs.guardian_id
    union all
    select sa.staff_id, '{}'::uuid[]
    from staff_assignment sa
    join person p on p.id = sa.staff_id and p.active
    where p_audience = 'staff'
      and (p_all_schools or sa.school_id is null
           or sa.school_id = (select c.school_id from calendar c where c.id = p_calendar))
      and (sa.end_date is null or sa.end_date >= current_date)
    group by sa.staff_id
$$;

-- Whether a contact method takes messages of a reason: its preference for that reason when one
-- is set, else the district default. Emergency messages go to the methods marked to receive
-- emergency messages (contact_method.emergency); every other reason defaults to on.
create function method_allowed(p_reason contact_reason, p_enabled boolean, p_emergency boolean)
returns boolean
language sql immutable
as $$
    select case when p_reason = 'emergency' then coalesce(p_enabled, p_emergency)
                else coalesce(p_enabled, true) end
$$;
