-- The portal's notices: paging by keyset, and the full HTML of each.
--
-- The portal's notices page reads a person's notices newest first, a page at a time, by keyset
-- (created_at, id): this index serves each page and the unread count without a sort.
drop index portal_notice_person;
create index portal_notice_person on portal_notice (person_id, created_at desc, id desc);
create index portal_notice_unread on portal_notice (person_id) where read_at is null;

-- The message's HTML body, merged for the recipient, shown when a parent opens the notice (the
-- notice text above it is the short version). Sanitized with an allow-list when shown.
alter table portal_notice add column body_html text;
