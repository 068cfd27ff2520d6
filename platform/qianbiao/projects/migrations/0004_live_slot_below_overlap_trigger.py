# The database enforces overlap: a live assignment's slot is below its project's
# overlap plus its item's extra slots (docs/ARCHITECTURE.md, step 2).
#
# The unique live (item, slot) constraint stops two live rows sharing a slot, and the
# check constraint caps slots at MAX_OVERLAP; neither knows the project's overlap, so a
# fourth live row was accepted for an overlap-3 project. A CHECK cannot read another
# table, hence a trigger: row-level BEFORE, two primary-key lookups, so the
# distributor's COPY path pays little. It checks a row only when it becomes live or
# changes slot or item: submitting (open -> submitted) or reopening an assignment that
# was valid when made is never refused because the project or item changed since.
# SQLSTATE 23514 (check_violation) makes psycopg raise CheckViolation, which Django
# maps to IntegrityError like any other constraint.

from django.db import migrations

FORWARD = """
CREATE FUNCTION projects_assignment_slot_within_overlap() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    allowed integer;
BEGIN
    IF NEW.slot IS NULL OR NEW.state NOT IN ('open', 'submitted') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.state IN ('open', 'submitted')
       AND NEW.slot IS NOT DISTINCT FROM OLD.slot AND NEW.item_id = OLD.item_id THEN
        RETURN NEW;
    END IF;
    SELECT p.overlap + i.extra_slots INTO allowed
      FROM projects_item i JOIN projects_datasetproject p ON p.id = i.project_id
     WHERE i.id = NEW.item_id;
    IF allowed IS NOT NULL AND NEW.slot >= allowed THEN
        RAISE EXCEPTION 'live assignment slot % of item % is not below its overlap plus extra slots (%)',
            NEW.slot, NEW.item_id, allowed
            USING ERRCODE = 'check_violation', CONSTRAINT = 'live_slot_below_overlap',
                  TABLE = 'projects_assignment', COLUMN = 'slot';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER live_slot_below_overlap
BEFORE INSERT OR UPDATE OF slot, state, item_id ON projects_assignment
FOR EACH ROW EXECUTE FUNCTION projects_assignment_slot_within_overlap();
"""

REVERSE = """
DROP TRIGGER IF EXISTS live_slot_below_overlap ON projects_assignment;
DROP FUNCTION IF EXISTS projects_assignment_slot_within_overlap();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("projects", "0003_item_extra_slots"),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
