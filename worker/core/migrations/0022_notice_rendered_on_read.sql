-- A notice's content is stored once, in its message (issue 13, point 12). Until now each inbox job
-- wrote its own rendered copy of the subject, the text and the HTML body: a 100,000-recipient
-- send of a 200 KB body wrote 20 GB or more. A notice now stores none of it: the portal renders it
-- when it is read, from the message's templates and the recipient row fan-out made, exactly as the
-- inbox lane rendered it before (`delivery::notice`), so a notice still reads as it was sent.
-- Messages are never edited or deleted once composed, which is what makes that true.
--
-- Notices written before this migration keep their stored copy; the portal shows a stored copy
-- when there is one, and renders otherwise. No new notice stores one.
alter table portal_notice
    alter column subject drop not null,
    alter column body drop not null,
    add constraint portal_notice_stored_whole
        check ((subject is null) = (body is null) and (subject is not null or body_html is null));
