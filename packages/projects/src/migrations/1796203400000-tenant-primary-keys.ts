import { MigrationInterface, QueryRunner } from 'typeorm';
import { replaceKeys } from '@strata/base';

const TABLES = ['projects', 'repositories', 'project_repositories', 'teams', 'team_members'];

/**
 * PostgreSQL checks a row's foreign keys in the order they were created. Moving teams' key
 * re-creates team_members' reference to its team; re-creating the reference to the membership
 * after it keeps the team checked first, so another organization's team is reported as an
 * unknown team (TeamsService.addMember) before its user is found not to be a member.
 */
async function recreateMembershipReference(q: QueryRunner): Promise<void> {
  await q.query(`ALTER TABLE "projects"."team_members" DROP CONSTRAINT "team_members_organization_id_user_id_fkey"`);
  await q.query(`
    ALTER TABLE "projects"."team_members" ADD CONSTRAINT "team_members_organization_id_user_id_fkey" FOREIGN KEY ("organization_id", "user_id")
      REFERENCES "base"."organization_memberships" ("organization_id", "user_id") ON DELETE CASCADE`);
}

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
    await recreateMembershipReference(q);
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
    await recreateMembershipReference(q);
  }
}
