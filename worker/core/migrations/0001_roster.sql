-- The roster: who the district is, who learns and works there, and how to reach them.
--
-- Everything here arrives through the OneRoster importer (herald_core::roster). Rows keep the
-- OneRoster `sourced_id` they came from so that a re-import updates in place. Calendars,
-- enrollments and households are derived by the importer from OneRoster sessions, class
-- enrollments and guardian links (OneRoster has no such tables of its own).

create table district (
    id uuid primary key default gen_random_uuid(),
    sourced_id text not null unique,
    name text not null,
    time_zone text not null default 'America/Chicago',
    updated_at timestamptz not null default now()
);

create table school (
    id uuid primary key default gen_random_uuid(),
    sourced_id text not null unique,
    district_id uuid not null references district (id),
    name text not null,
    identifier text,
    updated_at timestamptz not null default now()
);
create index school_district on school (district_id);

-- OneRoster academicSessions: school years and the terms inside them.
create table academic_session (
    id uuid primary key default gen_random_uuid(),
    sourced_id text not null unique,
    title text not null,
    kind text not null check (kind in ('schoolYear', 'term', 'semester', 'gradingPeriod')),
    start_date date not null,
    end_date date not null,
    parent_id uuid references academic_session (id),
    school_year integer not null,
    updated_at timestamptz not null default now(),
    check (end_date >= start_date)
);

-- A calendar is one school's school year: the scope the Campus Toolbar selects.
create table calendar (
    id uuid primary key default gen_random_uuid(),
    school_id uuid not null references school (id),
    school_year integer not null,
    name text not null,
    start_date date not null,
    end_date date not null,
    unique (school_id, school_year),
    check (end_date >= start_date)
);

-- People who share a home. The household phone is a contact method owned by the household and
-- applies to every active member.
create table household (
    id uuid primary key default gen_random_uuid(),
    key text not null unique,
    name text not null,
    updated_at timestamptz not null default now()
);

create type person_kind as enum ('student', 'guardian', 'staff');

create table person (
    id uuid primary key default gen_random_uuid(),
    sourced_id text not null unique,
    kind person_kind not null,
    given_name text not null,
    family_name text not null,
    middle_name text,
    username text,
    identifier text,
    grade_level text,
    birth_date date,
    household_id uuid references household (id),
    active boolean not null default true,
    updated_at timestamptz not null default now()
);
create index person_household on person (household_id);
create index person_name on person (lower(family_name), lower(given_name));
create index person_kind_idx on person (kind);

-- A guardian's relationship to a student; only messenger contacts receive messages about them.
create table guardian_student (
    guardian_id uuid not null references person (id) on delete cascade,
    student_id uuid not null references person (id) on delete cascade,
    relationship text not null default 'guardian',
    messenger_contact boolean not null default true,
    primary key (guardian_id, student_id)
);
create index guardian_student_student on guardian_student (student_id);

-- A student in a calendar, with the grade level they are in there.
create table enrollment (
    id uuid primary key default gen_random_uuid(),
    student_id uuid not null references person (id) on delete cascade,
    calendar_id uuid not null references calendar (id),
    grade_level text,
    start_date date not null,
    end_date date,
    unique (student_id, calendar_id)
);
create index enrollment_calendar on enrollment (calendar_id);

-- District assignments: a staff member at a school (school_id null: district-wide).
create table staff_assignment (
    id uuid primary key default gen_random_uuid(),
    staff_id uuid not null references person (id) on delete cascade,
    school_id uuid references school (id),
    title text not null,
    start_date date,
    end_date date,
    unique nulls not distinct (staff_id, school_id)
);
create index staff_assignment_school on staff_assignment (school_id);

create type phone_kind as enum ('cell', 'home', 'work', 'other');

-- An email address or a phone number of one person, or a household phone of one household.
create table contact_method (
    id uuid primary key default gen_random_uuid(),
    person_id uuid references person (id) on delete cascade,
    household_id uuid references household (id) on delete cascade,
    email text,
    phone text,
    phone_kind phone_kind,
    sms_capable boolean not null default false,
    emergency boolean not null default true,
    updated_at timestamptz not null default now(),
    check ((person_id is null) <> (household_id is null)),
    check (
        (email is not null and phone is null and phone_kind is null)
        or (phone is not null and email is null and phone_kind is not null)
    ),
    check (household_id is null or phone is not null),
    check (phone is null or phone ~ '^\+[1-9][0-9]{6,14}$'),
    unique nulls not distinct (person_id, household_id, email, phone)
);
create index contact_method_person on contact_method (person_id);
create index contact_method_household on contact_method (household_id);

-- The eight contact reasons of the Contact Preferences Batch.
create type contact_reason as enum (
    'emergency', 'attendance', 'behavior', 'staff', 'general', 'food_service', 'priority', 'teacher'
);

-- Whether a contact method receives messages of a reason. The person is the method's owner; a
-- household phone's preference is the household's. No row means the district default (on).
create table contact_preference (
    contact_method_id uuid not null references contact_method (id) on delete cascade,
    reason contact_reason not null,
    enabled boolean not null,
    updated_at timestamptz not null default now(),
    updated_by text not null default 'import',
    primary key (contact_method_id, reason)
);

create table course (
    id uuid primary key default gen_random_uuid(),
    sourced_id text not null unique,
    title text not null,
    course_code text,
    school_id uuid references school (id),
    updated_at timestamptz not null default now()
);

-- OneRoster classes: a section of a course taught in one calendar.
create table section (
    id uuid primary key default gen_random_uuid(),
    sourced_id text not null unique,
    title text not null,
    class_code text,
    course_id uuid not null references course (id),
    school_id uuid not null references school (id),
    calendar_id uuid not null references calendar (id),
    updated_at timestamptz not null default now()
);
create index section_calendar on section (calendar_id);

create table section_member (
    section_id uuid not null references section (id) on delete cascade,
    person_id uuid not null references person (id) on delete cascade,
    sourced_id text not null unique,
    role text not null check (role in ('student', 'teacher')),
    begin_date date,
    end_date date,
    primary key (section_id, person_id)
);
create index section_member_person on section_member (person_id);

-- The grade book: OneRoster lineItems (assignments) and results (scores).
create table assignment (
    id uuid primary key default gen_random_uuid(),
    sourced_id text not null unique,
    section_id uuid not null references section (id) on delete cascade,
    title text not null,
    category text,
    assign_date date,
    due_date date not null,
    max_score numeric not null check (max_score > 0),
    updated_at timestamptz not null default now()
);
create index assignment_section_due on assignment (section_id, due_date);

-- Keyed by (assignment, student): scores are never referred to by id, and a million-row grade
-- book imports faster with one index fewer.
create table score (
    sourced_id text not null unique,
    assignment_id uuid not null references assignment (id) on delete cascade,
    student_id uuid not null references person (id) on delete cascade,
    score numeric,
    status text not null check (
        status in ('exempt', 'fully graded', 'not submitted', 'partially graded', 'submitted')
    ),
    missing boolean not null default false,
    score_date date,
    comment text,
    updated_at timestamptz not null default now(),
    primary key (assignment_id, student_id)
);
create index score_student on score (student_id);
