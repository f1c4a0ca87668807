-- Text-message consent: an explicit opt-in by the phone's owner on the portal, with the exact
-- words they agreed to, kept after it is withdrawn (a carrier or a court may ask what was
-- agreed, when and by whom). Text-message preferences are never set in bulk (the Contact
-- Preferences Batch cannot: recipients could be charged for texts they did not want).
create table sms_consent (
    id bigint generated always as identity primary key,
    contact_method_id uuid not null references contact_method (id) on delete cascade,
    wording text not null,
    given_at timestamptz not null default now(),
    given_by text not null,
    withdrawn_at timestamptz,
    withdrawn_by text,
    check ((withdrawn_at is null) = (withdrawn_by is null))
);
-- At most one consent in force per phone.
create unique index sms_consent_current on sms_consent (contact_method_id) where withdrawn_at is null;
