-- Access follows the roster (issue 13, point 14). An account can sign in, and its sessions count,
-- only while `account_bar` says nothing bars it: an admin has not disabled it, the person it
-- belongs to is active in the roster, and a parent is still linked to a student. The rule has one
-- home here: sign-in, every session lookup and the People page's account line all ask it.

alter table account
    add column disabled_at timestamptz,
    -- Who disabled it; null after that account is deleted, or when done from the command line.
    add column disabled_by uuid references account (id) on delete set null;

create type account_bar as enum ('disabled', 'inactive', 'unlinked');

-- Why `account` may not sign in, or null when it may (and for no such account).
create function account_bar(account uuid)
returns account_bar
language sql
stable
parallel safe
begin atomic
    select case
               when a.disabled_at is not null then 'disabled'::account_bar
               when p.id is not null and not p.active then 'inactive'::account_bar
               when a.role = 'parent' and not exists (
                   select 1 from guardian_student gs where gs.guardian_id = a.person_id
               ) then 'unlinked'::account_bar
           end
    from account a left join person p on p.id = a.person_id
    where a.id = account_bar.account;
end;
