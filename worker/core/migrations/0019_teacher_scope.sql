-- Whom a teacher may look up on the People page: the students of the sections the roster says
-- they teach and those students' guardians, nobody else (issue 13, point 13). The rule has one
-- home here, as who a search finds has in `people_matching`; `directory` applies it to the
-- search, the person card and the preference history alike. The roster is the truth about who
-- teaches whom: an enrollment dropped from the SIS export is dropped by the import.
create function people_taught_by(teacher uuid)
returns table (id uuid)
language sql
stable
parallel safe
begin atomic
    with students as (
        select s.person_id
        from section_member t
        join section_member s on s.section_id = t.section_id and s.role = 'student'
        where t.person_id = people_taught_by.teacher and t.role = 'teacher'
    )
    select person_id from students
    union
    select gs.guardian_id from guardian_student gs
    where gs.student_id in (select person_id from students);
end;
