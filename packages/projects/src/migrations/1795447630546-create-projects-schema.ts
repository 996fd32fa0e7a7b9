import { MigrationInterface, QueryRunner } from 'typeorm';

const TABLES = ['projects', 'repositories', 'project_repositories', 'teams', 'team_members'];

/**
 * Schema `projects` (created by the migration runner): projects, repositories,
 * the links between them, teams and team members. Every table is tenant-scoped:
 * row-level security, `UNIQUE (organization_id, id)` so references can be
 * composite, erased with its organization, and audited.
 */
export class CreateProjectsSchema1795447630546 implements MigrationInterface {
  name = 'CreateProjectsSchema1795447630546';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "projects"."projects" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "organization_id" uuid NOT NULL,
        "name" character varying(255) NOT NULL,
        "slug" character varying(100) NOT NULL,
        "description" text,
        "status" character varying(16) NOT NULL DEFAULT 'active',
        "settings" jsonb NOT NULL DEFAULT '{}'::jsonb,
        "archived_at" TIMESTAMP WITH TIME ZONE,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "projects_pkey" PRIMARY KEY ("id"),
        CONSTRAINT "projects_organization_id_id_key" UNIQUE ("organization_id", "id"),
        CONSTRAINT "projects_organization_id_slug_key" UNIQUE ("organization_id", "slug"),
        CONSTRAINT "projects_name_check" CHECK ("name" <> ''),
        CONSTRAINT "projects_slug_check" CHECK ("slug" ~ '^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$'),
        CONSTRAINT "projects_status_check" CHECK ("status" IN ('active', 'archived')),
        CONSTRAINT "projects_archived_at_check" CHECK (("status" = 'archived') = ("archived_at" IS NOT NULL)),
        CONSTRAINT "projects_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "base"."organizations" ("id") ON DELETE CASCADE)`);
    // The active-projects list, ordered by name.
    await q.query(`CREATE INDEX "projects_organization_id_name_idx" ON "projects"."projects" ("organization_id", "name") WHERE "archived_at" IS NULL`);

    await q.query(`
      CREATE TABLE "projects"."repositories" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "organization_id" uuid NOT NULL,
        "provider" character varying(32) NOT NULL,
        "external_id" character varying(255),
        "full_name" character varying(255) NOT NULL,
        "clone_url" character varying(2048),
        "default_branch" character varying(255) NOT NULL DEFAULT 'main',
        "visibility" character varying(16) NOT NULL DEFAULT 'private',
        "metadata" jsonb NOT NULL DEFAULT '{}'::jsonb,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "repositories_pkey" PRIMARY KEY ("id"),
        CONSTRAINT "repositories_organization_id_id_key" UNIQUE ("organization_id", "id"),
        CONSTRAINT "repositories_organization_id_provider_external_id_key" UNIQUE ("organization_id", "provider", "external_id"),
        CONSTRAINT "repositories_provider_check" CHECK ("provider" IN ('github', 'gitlab', 'bitbucket', 'azure_devops', 'local')),
        CONSTRAINT "repositories_full_name_check" CHECK ("full_name" ~ '^\\.?[A-Za-z0-9_-][A-Za-z0-9_.-]*(/\\.?[A-Za-z0-9_-][A-Za-z0-9_.-]*)+$'),
        CONSTRAINT "repositories_default_branch_check" CHECK ("default_branch" ~ '^\\S+$'),
        CONSTRAINT "repositories_visibility_check" CHECK ("visibility" IN ('public', 'private', 'internal')),
        CONSTRAINT "repositories_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "base"."organizations" ("id") ON DELETE CASCADE)`);
    // Providers treat full names case-insensitively; webhooks are routed by lower(full_name).
    await q.query(`CREATE UNIQUE INDEX "repositories_organization_id_provider_full_name_key" ON "projects"."repositories" ("organization_id", "provider", lower("full_name"))`);
    await q.query(`COMMENT ON INDEX "projects"."repositories_organization_id_provider_full_name_key" IS 'strata:manual unique on lower(full_name): TypeORM cannot express an index on an expression'`);

    await q.query(`
      CREATE TABLE "projects"."project_repositories" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "organization_id" uuid NOT NULL,
        "project_id" uuid NOT NULL,
        "repository_id" uuid NOT NULL,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "project_repositories_pkey" PRIMARY KEY ("id"),
        CONSTRAINT "project_repositories_organization_id_id_key" UNIQUE ("organization_id", "id"),
        CONSTRAINT "project_repositories_project_id_repository_id_key" UNIQUE ("organization_id", "project_id", "repository_id"),
        CONSTRAINT "project_repositories_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "base"."organizations" ("id") ON DELETE CASCADE,
        CONSTRAINT "project_repositories_organization_id_project_id_fkey" FOREIGN KEY ("organization_id", "project_id")
          REFERENCES "projects"."projects" ("organization_id", "id") ON DELETE CASCADE,
        CONSTRAINT "project_repositories_organization_id_repository_id_fkey" FOREIGN KEY ("organization_id", "repository_id")
          REFERENCES "projects"."repositories" ("organization_id", "id") ON DELETE CASCADE)`);
    await q.query(`CREATE INDEX "project_repositories_organization_id_repository_id_idx" ON "projects"."project_repositories" ("organization_id", "repository_id")`);

    await q.query(`
      CREATE TABLE "projects"."teams" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "organization_id" uuid NOT NULL,
        "name" character varying(255) NOT NULL,
        "slug" character varying(100) NOT NULL,
        "description" text,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "teams_pkey" PRIMARY KEY ("id"),
        CONSTRAINT "teams_organization_id_id_key" UNIQUE ("organization_id", "id"),
        CONSTRAINT "teams_organization_id_slug_key" UNIQUE ("organization_id", "slug"),
        CONSTRAINT "teams_name_check" CHECK ("name" <> ''),
        CONSTRAINT "teams_slug_check" CHECK ("slug" ~ '^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$'),
        CONSTRAINT "teams_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "base"."organizations" ("id") ON DELETE CASCADE)`);

    // A team member must be a member of the organization: the reference goes to the
    // membership, so leaving the organization also leaves its teams.
    await q.query(`
      CREATE TABLE "projects"."team_members" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "organization_id" uuid NOT NULL,
        "team_id" uuid NOT NULL,
        "user_id" uuid NOT NULL,
        "role" character varying(16) NOT NULL DEFAULT 'member',
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "team_members_pkey" PRIMARY KEY ("id"),
        CONSTRAINT "team_members_organization_id_id_key" UNIQUE ("organization_id", "id"),
        CONSTRAINT "team_members_organization_id_team_id_user_id_key" UNIQUE ("organization_id", "team_id", "user_id"),
        CONSTRAINT "team_members_role_check" CHECK ("role" IN ('maintainer', 'member')),
        CONSTRAINT "team_members_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "base"."organizations" ("id") ON DELETE CASCADE,
        CONSTRAINT "team_members_organization_id_team_id_fkey" FOREIGN KEY ("organization_id", "team_id")
          REFERENCES "projects"."teams" ("organization_id", "id") ON DELETE CASCADE,
        CONSTRAINT "team_members_organization_id_user_id_fkey" FOREIGN KEY ("organization_id", "user_id")
          REFERENCES "base"."organization_memberships" ("organization_id", "user_id") ON DELETE CASCADE)`);
    await q.query(`CREATE INDEX "team_members_organization_id_user_id_idx" ON "projects"."team_members" ("organization_id", "user_id")`);

    for (const table of TABLES) {
      await q.query(`SELECT base.enable_tenant_rls('projects.${table}')`);
      await q.query(`SELECT base.enable_audit('projects.${table}')`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [...TABLES].reverse()) {
      await q.query(`SELECT base.disable_audit('projects.${table}')`);
      await q.query(`SELECT base.disable_tenant_rls('projects.${table}')`);
    }
    await q.query(`DROP TABLE "projects"."team_members"`);
    await q.query(`DROP TABLE "projects"."teams"`);
    await q.query(`DROP TABLE "projects"."project_repositories"`);
    await q.query(`DROP TABLE "projects"."repositories"`);
    await q.query(`DROP TABLE "projects"."projects"`);
    await q.query(`REVOKE USAGE ON SCHEMA "projects" FROM strata_app`);
  }
}
