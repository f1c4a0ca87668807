-- New queue states for the phone dialer, in a migration of their own: PostgreSQL cannot use an
-- enum value in the transaction that adds it.
--
-- 'calling': the provider has the call; its status callbacks (or, failing those, a status
-- lookup) decide whether the job ends sent, retrying, failed or canceled.
alter type job_status add value 'calling' after 'leased';
-- An email to the Dialer Preferences error list about errors that need a person.
alter type job_kind add value 'error_report';
