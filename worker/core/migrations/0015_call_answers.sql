-- How completed calls were answered, counted as each call ends (in the same statement that counts
-- the job sent), so the Delivery Report says how many calls reached a person and how many an
-- answering machine without reading every call.
alter table message_tally
    add column answered_by_person bigint not null default 0,
    add column answered_by_machine bigint not null default 0,
    add constraint message_tally_answers check (answered_by_person + answered_by_machine <= sent);

-- Calls that ended before this migration.
update message_tally t
set answered_by_person = a.person, answered_by_machine = a.machine
from (select j.message_id, j.device,
             count(distinct j.id) filter (where c.answered_by = 'human') as person,
             count(distinct j.id) filter (where c.answered_by like 'machine%') as machine
      from delivery_job j
      join phone_call c on c.job_id = j.id and c.status = 'completed'
      where j.device = 'phone' and j.status = 'sent' and j.kind <> 'confirmation'
      group by j.message_id, j.device) a
where a.message_id = t.message_id and a.device = t.device;
