-- The Utilization Report reads a date range of messages by when their delivery started; a
-- year of a district's messages is found by this index instead of a scan of every body.
create index message_start on message (start_at);
