-- The sign-in throttle keys on the client's address as well as the email (issue 13, point 10):
-- one address spraying many emails is stopped, and a stranger guessing one account from elsewhere
-- no longer locks its owner out. Failures recorded before this carry the unspecified address `::`.
alter table sign_in_failure add column address inet not null default '::';
alter table sign_in_failure alter column address drop default;
create index sign_in_failure_address on sign_in_failure (address, failed_at);

-- Where each email last signed in successfully. An address that has signed in to an account
-- lately is not held back by that account's ceiling of failures from everywhere, so many
-- addresses guessing one account cannot keep its owner out from the places they sign in from.
create table sign_in_known_address (
    email text not null,
    address inet not null,
    signed_in_at timestamptz not null default now(),
    primary key (email, address)
);
create index sign_in_known_address_age on sign_in_known_address (signed_in_at);
