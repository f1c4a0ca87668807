-- Where a message's jobs are, for the delivery report.
--
-- Each device's jobs are written by one statement (fan-out), so their ids lie between first_job
-- and last_job; other messages' jobs may interleave, and message_id tells them apart. The
-- delivery report pages, filters and exports a message's jobs by primary-key range, so
-- delivery_job needs no index on message_id (every index on it costs every fan-out).
alter table message_tally add column first_job bigint, add column last_job bigint;

update message_tally t
set first_job = j.first_job, last_job = j.last_job
from (select message_id, device, min(id) as first_job, max(id) as last_job
      from delivery_job where kind in ('message', 'test')
      group by message_id, device) j
where j.message_id = t.message_id and j.device = t.device;
