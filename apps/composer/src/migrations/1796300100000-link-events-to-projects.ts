import { MigrationInterface, QueryRunner } from 'typeorm';

const REFERENCES = [
  {
    name: 'events_organization_id_repository_id_fkey',
    columns: '"organization_id", "repository_id"',
    references: '"projects"."repositories" ("organization_id", "id")',
  },
  {
    name: 'events_organization_id_project_id_fkey',
    columns: '"organization_id", "project_id"',
    references: '"projects"."projects" ("organization_id", "id")',
  },
];

/**
 * `events.events.repository_id` and `project_id` become references to the
 * projects module, composite with organization_id (tenant-consistent).
 * events.events is partitioned, and PostgreSQL before 18 cannot add a
 * foreign key NOT VALID to a partitioned table, so these are added validated
 * at once (addForeignKey's NOT VALID + VALIDATE is not available here): on a
 * large events table, run this migration in a quiet hour. Deleting a
 * repository or a project keeps its events and clears the column, by the
 * trigger composer.clear_event_references() (like the tasks' project
 * references, not ON DELETE SET NULL (col), which Citus refuses).
 */
export class LinkEventsToProjects1796300100000 implements MigrationInterface {
  name = 'LinkEventsToProjects1796300100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION composer.clear_event_references() RETURNS trigger
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        IF TG_TABLE_NAME = 'repositories' THEN
          UPDATE events.events e SET repository_id = NULL WHERE e.organization_id = OLD.organization_id AND e.repository_id = OLD.id;
        ELSE
          UPDATE events.events e SET project_id = NULL WHERE e.organization_id = OLD.organization_id AND e.project_id = OLD.id;
        END IF;
        RETURN OLD;
      END $$`);
    await q.query(
      `COMMENT ON FUNCTION composer.clear_event_references() IS 'Trigger: a deleted repository''s or project''s events keep their organization and lose the reference.'`,
    );
    await q.query(`REVOKE ALL ON FUNCTION composer.clear_event_references() FROM PUBLIC`);
    for (const table of ['repositories', 'projects']) {
      await q.query(
        `CREATE TRIGGER ${table}_clear_event_references BEFORE DELETE ON "projects"."${table}" FOR EACH ROW EXECUTE FUNCTION composer.clear_event_references()`,
      );
    }
    for (const reference of REFERENCES) {
      await q.query(
        `ALTER TABLE "events"."events" ADD CONSTRAINT "${reference.name}" FOREIGN KEY (${reference.columns}) REFERENCES ${reference.references}`,
      );
      await q.query(
        `COMMENT ON CONSTRAINT "${reference.name}" ON "events"."events" IS 'strata:manual cross-module reference owned by the composer'`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const reference of [...REFERENCES].reverse()) await q.query(`ALTER TABLE "events"."events" DROP CONSTRAINT "${reference.name}"`);
    for (const table of ['projects', 'repositories'])
      await q.query(`DROP TRIGGER ${table}_clear_event_references ON "projects"."${table}"`);
    await q.query(`DROP FUNCTION composer.clear_event_references()`);
  }
}
