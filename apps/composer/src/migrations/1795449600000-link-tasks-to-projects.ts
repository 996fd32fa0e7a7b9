import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tasks and workflows belong to a project when both modules are installed.
 * The references are tenant-consistent (organization_id is part of the key), so
 * a task can never point at another organization's project. Deleting a project
 * detaches its tasks and workflows (only project_id is cleared: PostgreSQL 15's
 * column list on SET NULL keeps organization_id). The constraints live in the
 * tasks schema but belong to the composer: marked `strata:manual` so the tasks
 * module's own drift check, which does not know them, leaves them alone.
 */
export class LinkTasksToProjects1795449600000 implements MigrationInterface {
  name = 'LinkTasksToProjects1795449600000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of ['workflows', 'tasks']) {
      const constraint = `${table}_organization_id_project_id_fkey`;
      await q.query(`
        ALTER TABLE "tasks"."${table}" ADD CONSTRAINT "${constraint}"
          FOREIGN KEY ("organization_id", "project_id") REFERENCES "projects"."projects" ("organization_id", "id")
          ON DELETE SET NULL ("project_id")`);
      await q.query(`COMMENT ON CONSTRAINT "${constraint}" ON "tasks"."${table}" IS 'strata:manual cross-module reference owned by the composer'`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['tasks', 'workflows']) {
      await q.query(`ALTER TABLE "tasks"."${table}" DROP CONSTRAINT "${table}_organization_id_project_id_fkey"`);
    }
  }
}
