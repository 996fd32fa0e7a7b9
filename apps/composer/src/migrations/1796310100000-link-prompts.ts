import { MigrationInterface, QueryRunner } from 'typeorm';
import { ForeignKey, addForeignKey, dropForeignKey } from '@strata/base';

export const PROMPT_TEMPLATE_PROJECT: ForeignKey = {
  table: 'prompts.prompt_templates',
  name: 'prompt_templates_organization_id_project_id_fkey',
  columns: ['organization_id', 'project_id'],
  references: { table: 'projects.projects', columns: ['organization_id', 'id'] },
  comment: 'strata:manual cross-module reference owned by the composer',
};

export const PROMPT_EXECUTION_TASK: ForeignKey = {
  table: 'prompts.prompt_executions',
  name: 'prompt_executions_organization_id_task_id_fkey',
  columns: ['organization_id', 'task_id'],
  references: { table: 'tasks.tasks', columns: ['organization_id', 'id'] },
  comment: 'strata:manual cross-module reference owned by the composer',
};

/** PostgreSQL 18 is the first to add a NOT VALID foreign key to a partitioned table. */
export async function notValidOnPartitioned(q: QueryRunner): Promise<boolean> {
  const [{ version }] = await q.query(`SELECT current_setting('server_version_num')::int AS version`);
  return version >= 180000;
}

/**
 * Prompt templates belong to projects and prompt executions to tasks,
 * tenant-consistently (composite with organization_id). Deleting a project or
 * a task detaches them (the id is cleared, the row stays) by BEFORE DELETE
 * triggers the composer owns, as for tasks and workflows (Citus refuses
 * `ON DELETE SET NULL (column)`). The keys are added NOT VALID and validated by
 * the next migration. Before PostgreSQL 18 a partitioned table takes no NOT
 * VALID key, so there the executions' key is added valid at once: it reads
 * prompt_executions under SHARE ROW EXCLUSIVE, which is short while the table is
 * young (the prompts module is new in this release).
 */
export class LinkPrompts1796310100000 implements MigrationInterface {
  name = 'LinkPrompts1796310100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION composer.clear_prompt_template_projects() RETURNS trigger
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        UPDATE prompts.prompt_templates t SET project_id = NULL WHERE t.organization_id = OLD.organization_id AND t.project_id = OLD.id;
        RETURN OLD;
      END $$`);
    await q.query(`
      CREATE FUNCTION composer.clear_prompt_execution_tasks() RETURNS trigger
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        UPDATE prompts.prompt_executions e SET task_id = NULL WHERE e.organization_id = OLD.organization_id AND e.task_id = OLD.id;
        RETURN OLD;
      END $$`);
    for (const fn of ['clear_prompt_template_projects', 'clear_prompt_execution_tasks']) {
      await q.query(`REVOKE ALL ON FUNCTION composer.${fn}() FROM PUBLIC`);
    }
    await q.query(
      `COMMENT ON FUNCTION composer.clear_prompt_template_projects() IS 'Trigger: a deleted project''s prompt templates keep their organization and lose their project_id.'`,
    );
    await q.query(
      `COMMENT ON FUNCTION composer.clear_prompt_execution_tasks() IS 'Trigger: a deleted task''s prompt executions keep their organization and lose their task_id.'`,
    );
    await q.query(
      `CREATE TRIGGER projects_clear_prompt_template_projects BEFORE DELETE ON "projects"."projects" FOR EACH ROW EXECUTE FUNCTION composer.clear_prompt_template_projects()`,
    );
    await q.query(
      `CREATE TRIGGER tasks_clear_prompt_execution_tasks BEFORE DELETE ON "tasks"."tasks" FOR EACH ROW EXECUTE FUNCTION composer.clear_prompt_execution_tasks()`,
    );
    await addForeignKey(q, PROMPT_TEMPLATE_PROJECT);
    if (await notValidOnPartitioned(q)) await addForeignKey(q, PROMPT_EXECUTION_TASK);
    else {
      const { table, name, columns, references, comment } = PROMPT_EXECUTION_TASK;
      await q.query(
        `ALTER TABLE ${table} ADD CONSTRAINT "${name}" FOREIGN KEY (${columns.join(', ')}) REFERENCES ${references.table} (${references.columns.join(', ')})`,
      );
      await q.query(`COMMENT ON CONSTRAINT "${name}" ON ${table} IS '${comment}'`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await dropForeignKey(q, PROMPT_EXECUTION_TASK);
    await dropForeignKey(q, PROMPT_TEMPLATE_PROJECT);
    await q.query(`DROP TRIGGER tasks_clear_prompt_execution_tasks ON "tasks"."tasks"`);
    await q.query(`DROP TRIGGER projects_clear_prompt_template_projects ON "projects"."projects"`);
    await q.query(`DROP FUNCTION composer.clear_prompt_execution_tasks()`);
    await q.query(`DROP FUNCTION composer.clear_prompt_template_projects()`);
  }
}
