-- Nothing the district must keep is deleted by a re-import (issue 13, point 8). A contact method
-- that one SIS export leaves out is marked `removed_at` instead of deleted: Herald stops sending to
-- it and stops listing it, but its preferences, its text-message consents and its preference
-- history stay attached, so when the address returns in a later export the parent's opt-outs are
-- the ones they chose, not the district default.
--
-- What must stay true: every query that sends to, counts or lists a person's methods reads only
-- methods with `removed_at is null` (`methods_of` and `people_matching` below do); the consent
-- and history records are reached through `methods_ever_of`, and the schema refuses to delete a
-- method that still has either.

alter table contact_method add column removed_at timestamptz;

create or replace function methods_of(person uuid)
returns table (id uuid)
language sql
stable
parallel safe
begin atomic
    select cm.id from contact_method cm
    where cm.person_id = methods_of.person and cm.removed_at is null
    union all
    select cm.id from contact_method cm
    join person p on p.household_id = cm.household_id
    where p.id = methods_of.person and cm.removed_at is null;
end;

-- Like `methods_of`, with the methods a re-import removed: what the person's consent and
-- preference records are kept for.
create function methods_ever_of(person uuid)
returns table (id uuid)
language sql
stable
parallel safe
begin atomic
    select cm.id from contact_method cm where cm.person_id = methods_ever_of.person
    union all
    select cm.id from contact_method cm
    join person p on p.household_id = cm.household_id
    where p.id = methods_ever_of.person;
end;

create or replace function people_matching(pattern text)
returns table (id uuid)
language sql
stable
parallel safe
begin atomic
    select p.id from person p
    where person_search_text(p.given_name, p.family_name, p.identifier) ilike pattern
    union
    select cm.person_id from contact_method cm
    where cm.person_id is not null and cm.removed_at is null
      and coalesce(cm.email, cm.phone) ilike pattern
    union
    select p.id from contact_method cm join person p on p.household_id = cm.household_id
    where cm.household_id is not null and cm.removed_at is null
      and coalesce(cm.email, cm.phone) ilike pattern;
end;

-- The records are kept: deleting a method that has any is an error, not a cascade.
alter table sms_consent
    drop constraint sms_consent_contact_method_id_fkey,
    add constraint sms_consent_contact_method_id_fkey
        foreign key (contact_method_id) references contact_method (id);
alter table contact_preference_change
    drop constraint contact_preference_change_contact_method_id_fkey,
    add constraint contact_preference_change_contact_method_id_fkey
        foreign key (contact_method_id) references contact_method (id);
