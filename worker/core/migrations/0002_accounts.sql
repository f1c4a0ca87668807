-- Sign-in: accounts, server-side sessions and the failed-attempt throttle.
--
-- Passwords are stored only as argon2id PHC strings. A session row stores the SHA-256 of the
-- cookie's random token, never the token itself, so a database read does not yield live cookies.

create type account_role as enum ('district_admin', 'teacher', 'parent');

create table account (
    id uuid primary key default gen_random_uuid(),
    email text not null unique check (email = lower(email)),
    display_name text not null,
    password_hash text not null,
    role account_role not null,
    person_id uuid references person (id) on delete cascade,
    created_at timestamptz not null default now(),
    check (role = 'district_admin' or person_id is not null)
);
create index account_person on account (person_id);

create table auth_session (
    token_hash bytea primary key,
    account_id uuid not null references account (id) on delete cascade,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    -- The calendar chosen in the Campus Toolbar; it scopes every admin tool for this session.
    calendar_id uuid references calendar (id) on delete set null
);
create index auth_session_account on auth_session (account_id);

-- One row per failed sign-in, by the email that was typed (known or not), for the throttle.
create table sign_in_failure (
    id bigint generated always as identity primary key,
    email text not null,
    failed_at timestamptz not null default now()
);
create index sign_in_failure_email on sign_in_failure (email, failed_at);
