-- Every change to a contact preference, whoever makes it (a parent on the portal, a one-click
-- unsubscribe, an admin's Contact Preferences Batch), so an admin can see that a batch later
-- overwrote a parent's choice. A trigger keeps it, so no write path can forget to.
create table contact_preference_change (
    id bigint generated always as identity primary key,
    contact_method_id uuid not null references contact_method (id) on delete cascade,
    reason contact_reason not null,
    -- Null: no preference row (the district default).
    old_enabled boolean,
    new_enabled boolean,
    changed_at timestamptz not null default now(),
    -- contact_preference.updated_by of the change ('unsubscribe link', an account's email, …).
    changed_by text not null
);
create index contact_preference_change_method on contact_preference_change (contact_method_id, changed_at desc);

create function record_contact_preference_change() returns trigger
language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into contact_preference_change (contact_method_id, reason, old_enabled, new_enabled, changed_by)
        values (new.contact_method_id, new.reason, null, new.enabled, coalesce(new.updated_by, 'unknown'));
    elsif tg_op = 'UPDATE' then
        if new.enabled is distinct from old.enabled then
            insert into contact_preference_change (contact_method_id, reason, old_enabled, new_enabled, changed_by)
            values (new.contact_method_id, new.reason, old.enabled, new.enabled, coalesce(new.updated_by, 'unknown'));
        end if;
    else
        insert into contact_preference_change (contact_method_id, reason, old_enabled, new_enabled, changed_by)
        select old.contact_method_id, old.reason, old.enabled, null, 'removed'
        where exists (select 1 from contact_method where id = old.contact_method_id);
    end if;
    return null;
end
$$;

create trigger contact_preference_history
after insert or update or delete on contact_preference
for each row execute function record_contact_preference_change();
