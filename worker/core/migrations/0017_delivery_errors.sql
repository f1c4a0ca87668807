-- Errors a person must fix now come from the email lane too: an SMTP server refusing Herald's
-- sign-in or refusing to relay, or one that cannot be reached. One table for both devices, each
-- row saying which, so that one error report tells the error list about calls and emails alike.
alter table dialer_error rename to delivery_error;
alter index dialer_error_unreported rename to delivery_error_unreported;
alter table delivery_error add column device delivery_device not null default 'phone';
alter table delivery_error alter column device drop default;
