-- Finding people by part of a name, student number, email address or phone number: the People
-- page's search and the Delivery Report's recipient search both ask `people_matching`, so the two
-- answer alike and both use these trigram indexes instead of reading every person.
create extension if not exists pg_trgm;

-- The text a person is found by: "Given Family | Family, Given | identifier". The separators keep
-- a search from matching across two parts.
create function person_search_text(given_name text, family_name text, identifier text)
returns text
language sql
immutable
parallel safe
return given_name || ' ' || family_name || ' | ' || family_name || ', ' || given_name
       || ' | ' || coalesce(identifier, '');

create index person_search on person
    using gin (person_search_text(given_name, family_name, identifier) gin_trgm_ops);

-- A contact method's address: exactly one of email and phone is set.
create index contact_method_search on contact_method using gin ((coalesce(email, phone)) gin_trgm_ops);

-- People whose search text or one of whose contact methods contains `pattern` (an `ilike`
-- pattern). A household phone finds everyone in the household.
create function people_matching(pattern text)
returns table (id uuid)
language sql
stable
parallel safe
begin atomic
    select p.id from person p
    where person_search_text(p.given_name, p.family_name, p.identifier) ilike pattern
    union
    select cm.person_id from contact_method cm
    where cm.person_id is not null and coalesce(cm.email, cm.phone) ilike pattern
    union
    select p.id from contact_method cm join person p on p.household_id = cm.household_id
    where cm.household_id is not null and coalesce(cm.email, cm.phone) ilike pattern;
end;
