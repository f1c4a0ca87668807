-- The portal's notices page reads a person's notices newest first, a page at a time, by keyset
-- (created_at, id): this index serves each page and the unread count without a sort.
drop index portal_notice_person;
create index portal_notice_person on portal_notice (person_id, created_at desc, id desc);
create index portal_notice_unread on portal_notice (person_id) where read_at is null;
