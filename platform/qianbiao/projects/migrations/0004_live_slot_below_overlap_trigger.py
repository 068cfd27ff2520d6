# The database enforces overlap: a live assignment's slot is below its project's
# overlap plus its item's extra slots (docs/ARCHITECTURE.md, step 2).
#
# The unique live (item, slot) constraint stops two live rows sharing a slot, and the
# check constraint caps slots at MAX_OVERLAP; neither knows the project's overlap, so a
# fourth live row was accepted for an overlap-3 project. A CHECK cannot read another
# table, hence triggers: statement-level, over the statement's transition table, so
# that the distributor's COPY of thousands of rows pays one join, not one lookup per
# row. Only rows that become live or change slot or item are checked: submitting
# (open -> submitted) or reopening an assignment that was valid when made is never
# refused because the project or item changed since. SQLSTATE 23514 (check_violation)
# makes psycopg raise CheckViolation, which Django maps to IntegrityError like any
# other constraint; the statement is rolled back whole.

from django.db import migrations

FORWARD = """
CREATE FUNCTION projects_assignment_slot_within_overlap() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT n.item_id, n.slot, p.overlap + i.extra_slots AS allowed INTO bad
          FROM new_rows n
          JOIN projects_item i ON i.id = n.item_id
          JOIN projects_datasetproject p ON p.id = i.project_id
         WHERE n.slot IS NOT NULL AND n.state IN ('open', 'submitted')
           AND n.slot >= p.overlap + i.extra_slots
         LIMIT 1;
    ELSE
        SELECT n.item_id, n.slot, p.overlap + i.extra_slots AS allowed INTO bad
          FROM new_rows n
          JOIN old_rows o ON o.id = n.id
          JOIN projects_item i ON i.id = n.item_id
          JOIN projects_datasetproject p ON p.id = i.project_id
         WHERE n.slot IS NOT NULL AND n.state IN ('open', 'submitted')
           AND (o.state NOT IN ('open', 'submitted') OR o.slot IS DISTINCT FROM n.slot
                OR o.item_id <> n.item_id)
           AND n.slot >= p.overlap + i.extra_slots
         LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'live assignment slot % of item % is not below its overlap plus extra slots (%)',
            bad.slot, bad.item_id, bad.allowed
            USING ERRCODE = 'check_violation', CONSTRAINT = 'live_slot_below_overlap',
                  TABLE = 'projects_assignment', COLUMN = 'slot';
    END IF;
    RETURN NULL;
END;
$$;

-- Two triggers: PostgreSQL allows transition tables only on a single-event trigger.
CREATE TRIGGER live_slot_below_overlap_insert
AFTER INSERT ON projects_assignment REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION projects_assignment_slot_within_overlap();

CREATE TRIGGER live_slot_below_overlap_update
AFTER UPDATE ON projects_assignment REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION projects_assignment_slot_within_overlap();
"""

REVERSE = """
DROP TRIGGER IF EXISTS live_slot_below_overlap_update ON projects_assignment;
DROP TRIGGER IF EXISTS live_slot_below_overlap_insert ON projects_assignment;
DROP FUNCTION IF EXISTS projects_assignment_slot_within_overlap();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("projects", "0003_item_extra_slots"),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
