import { MigrationInterface, QueryRunner } from 'typeorm';
import { replaceKeys } from '@strata/base';

const TABLES = ['projects', 'repositories', 'project_repositories', 'teams', 'team_members'];

/**
 * Every projects table's primary key becomes `(organization_id, id)`,
 * replacing `PRIMARY KEY (id)` + `UNIQUE (organization_id, id)`: one index
 * instead of two, and a key a distributed PostgreSQL (Citus) can enforce on a
 * table sharded by organization. The composite references to these tables
 * (this module's, and the composer's from tasks when it is installed) move
 * onto the new key unchanged.
 */
export class TenantPrimaryKeys1796203400000 implements MigrationInterface {
  name = 'TenantPrimaryKeys1796203400000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of TABLES) {
      await replaceKeys(q, `projects.${table}`, {
        drop: [`${table}_pkey`, `${table}_organization_id_id_key`],
        add: [`CONSTRAINT "${table}_pkey" PRIMARY KEY ("organization_id", "id")`],
      });
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [...TABLES].reverse()) {
      await replaceKeys(q, `projects.${table}`, {
        drop: [`${table}_pkey`],
        add: [
          `CONSTRAINT "${table}_organization_id_id_key" UNIQUE ("organization_id", "id")`,
          `CONSTRAINT "${table}_pkey" PRIMARY KEY ("id")`,
        ],
      });
    }
  }
}
