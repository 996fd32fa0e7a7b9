import { MigrationInterface, QueryRunner } from 'typeorm';
import { ForeignKey, addForeignKey, dropForeignKey } from '@strata/base';

export const PROJECT_REFERENCING_TABLES = ['workflows', 'tasks'];
const REFERENCING = PROJECT_REFERENCING_TABLES;

export function projectReference(table: string): ForeignKey {
  return {
    table: `tasks.${table}`,
    name: `${table}_organization_id_project_id_fkey`,
    columns: ['organization_id', 'project_id'],
    references: { table: 'projects.projects', columns: ['organization_id', 'id'] },
    comment: 'strata:manual cross-module reference owned by the composer',
  };
}

/**
 * Deleting a project still detaches its tasks and workflows (project_id is
 * cleared, organization_id stays), but by a trigger the composer owns instead
 * of `ON DELETE SET NULL (project_id)`: Citus refuses a SET NULL column list
 * on distributed tables, while a BEFORE DELETE trigger whose statements name
 * the organization works on one server and on Citus alike. The references
 * become plain (NO ACTION) ones, checked when the statement ends, after the
 * trigger has cleared them. They are re-added `NOT VALID` (addForeignKey) and
 * validated by the next migration in a transaction of its own, so a large
 * existing table is write-locked only for the instant of each ALTER.
 * The trigger runs as the deleting role: row-level security keeps it inside
 * the project's organization, and strata_app may update project_id.
 */
export class ClearProjectReferencesByTrigger1796203600000 implements MigrationInterface {
  name = 'ClearProjectReferencesByTrigger1796203600000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of REFERENCING) await dropForeignKey(q, projectReference(table));
    await q.query(`
      CREATE FUNCTION composer.clear_project_references() RETURNS trigger
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        UPDATE tasks.tasks t SET project_id = NULL WHERE t.organization_id = OLD.organization_id AND t.project_id = OLD.id;
        UPDATE tasks.workflows w SET project_id = NULL WHERE w.organization_id = OLD.organization_id AND w.project_id = OLD.id;
        RETURN OLD;
      END $$`);
    await q.query(
      `COMMENT ON FUNCTION composer.clear_project_references() IS 'Trigger: a deleted project''s tasks and workflows keep their organization and lose their project_id.'`,
    );
    await q.query(`REVOKE ALL ON FUNCTION composer.clear_project_references() FROM PUBLIC`);
    await q.query(
      `CREATE TRIGGER projects_clear_project_references BEFORE DELETE ON "projects"."projects" FOR EACH ROW EXECUTE FUNCTION composer.clear_project_references()`,
    );
    for (const table of REFERENCING) await addForeignKey(q, projectReference(table));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [...REFERENCING].reverse()) await dropForeignKey(q, projectReference(table));
    await q.query(`DROP TRIGGER projects_clear_project_references ON "projects"."projects"`);
    await q.query(`DROP FUNCTION composer.clear_project_references()`);
    // As LinkTasksToProjects1795449600000 added them.
    for (const table of REFERENCING) {
      const constraint = `${table}_organization_id_project_id_fkey`;
      await q.query(`
        ALTER TABLE "tasks"."${table}" ADD CONSTRAINT "${constraint}"
          FOREIGN KEY ("organization_id", "project_id") REFERENCES "projects"."projects" ("organization_id", "id")
          ON DELETE SET NULL ("project_id")`);
      await q.query(
        `COMMENT ON CONSTRAINT "${constraint}" ON "tasks"."${table}" IS 'strata:manual cross-module reference owned by the composer'`,
      );
    }
  }
}
