-- Who canceled what, and how much: every cancel from a message's page or from Dialer Activity
-- ("Cancel Selected Jobs", "Cancel All Active Jobs") leaves one row, written in the same
-- transaction as the cancel, with the number of jobs it actually canceled.
create table cancellation (
    id bigint generated always as identity primary key,
    account_id uuid references account (id) on delete set null,
    canceled_by text not null,
    canceled_at timestamptz not null default now(),
    scope text not null check (scope in ('message', 'selected', 'all_active')),
    message_ids uuid[] not null,
    jobs bigint not null
);
create index cancellation_at on cancellation (canceled_at desc);
