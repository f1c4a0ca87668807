-- A person's contact methods: their own, and their household's shared phone. The portal lets a
-- parent change exactly these, and the People page, the preference history and the text-message
-- consents list exactly these, so the rule has one home.
create function methods_of(person uuid)
returns table (id uuid)
language sql
stable
parallel safe
begin atomic
    select cm.id from contact_method cm where cm.person_id = methods_of.person
    union all
    select cm.id from contact_method cm
    join person p on p.household_id = cm.household_id
    where p.id = methods_of.person;
end;
