import { MigrationInterface, QueryRunner } from 'typeorm';
import { replaceKeys } from '@strata/base';

/** Tables whose key was `PRIMARY KEY (id)` + `UNIQUE (organization_id, id)`. */
const KEYED_BY_ID = ['task_definitions', 'workflows', 'tasks'];

/**
 * Every tasks table's primary key starts with organization_id, so a
 * distributed PostgreSQL (Citus) can shard the module by organization:
 * `(organization_id, id)` replaces `PRIMARY KEY (id)` + `UNIQUE (organization_id, id)`
 * (one index instead of two; the composite references `(x_id, organization_id)`
 * move onto it unchanged), and task_executions' `(id, started_at)` becomes
 * `(organization_id, id, started_at)`. task_dependencies already had
 * `(organization_id, task_id, depends_on_task_id)`.
 */
export class TenantPrimaryKeys1796203300000 implements MigrationInterface {
  name = 'TenantPrimaryKeys1796203300000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of KEYED_BY_ID) {
      await replaceKeys(q, `tasks.${table}`, {
        drop: [`${table}_pkey`, `${table}_organization_id_id_key`],
        add: [`CONSTRAINT "${table}_pkey" PRIMARY KEY ("organization_id", "id")`],
      });
    }
    await replaceKeys(q, 'tasks.task_executions', {
      drop: ['task_executions_pkey'],
      add: ['CONSTRAINT "task_executions_pkey" PRIMARY KEY ("organization_id", "id", "started_at")'],
    });
  }

  async down(q: QueryRunner): Promise<void> {
    await replaceKeys(q, 'tasks.task_executions', {
      drop: ['task_executions_pkey'],
      add: ['CONSTRAINT "task_executions_pkey" PRIMARY KEY ("id", "started_at")'],
    });
    for (const table of [...KEYED_BY_ID].reverse()) {
      await replaceKeys(q, `tasks.${table}`, {
        drop: [`${table}_pkey`],
        add: [
          `CONSTRAINT "${table}_organization_id_id_key" UNIQUE ("organization_id", "id")`,
          `CONSTRAINT "${table}_pkey" PRIMARY KEY ("id")`,
        ],
      });
    }
  }
}
