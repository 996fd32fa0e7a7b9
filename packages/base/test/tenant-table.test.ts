import { catalogSnapshot, useTestDatabase } from '@strata/testing';
import {
  ForeignKey,
  OrganizationsService,
  TenantTable,
  addForeignKey,
  unvalidateForeignKey,
  validateForeignKey,
  baseModule,
  createTenantTable,
  dropTenantTable,
  replaceKeys,
  runMaintenance,
  validateIntegrity,
  withTenant,
} from '../src';

/** The tenant-table helpers of a module's migrations, and the integrity rules they satisfy. */
describe('tenant tables', () => {
  const db = useTestDatabase({ modules: [baseModule] });
  let a: string;
  let b: string;

  const notes: TenantTable = {
    table: 'keys_test.notes',
    columns: { id: 'uuid NOT NULL DEFAULT gen_random_uuid()', title: 'text NOT NULL', slug: 'text NOT NULL' },
    constraints: ['CONSTRAINT "notes_organization_id_slug_key" UNIQUE ("organization_id", "slug")'],
    audit: true,
  };
  const readings: TenantTable = {
    table: 'keys_test.readings',
    columns: { id: 'uuid NOT NULL DEFAULT gen_random_uuid()', taken_at: 'timestamptz NOT NULL', value: 'double precision NOT NULL' },
    partition: { column: 'taken_at', interval: 'month', premake: 1, retention: '3 months', retentionMode: 'detach' },
  };

  const violations = async () =>
    Object.fromEntries(
      (await validateIntegrity(db.dataSource)).checks.filter((c) => c.violations.length).map((c) => [c.check, c.violations]),
    );

  beforeAll(async () => {
    const orgs = new OrganizationsService(db.dataSource);
    a = (await orgs.create({ name: 'A', slug: 'keys-a' })).id;
    b = (await orgs.create({ name: 'B', slug: 'keys-b' })).id;
    // A schema with a history table is a Strata module's schema: the integrity rules cover it.
    await db.query('CREATE SCHEMA keys_test; CREATE TABLE keys_test.migrations (id int)');
  });

  it('creates the standard tenant table in one call, and drops it back to exactly the catalog before', async () => {
    // Schema usage is the module's (its first migration grants it, its last down revokes it).
    await db.query('GRANT USAGE ON SCHEMA keys_test TO strata_app');
    const before = await catalogSnapshot(db, ['keys_test', 'base']);
    await createTenantTable(db, notes);

    const [key] = await db.query(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'notes_pkey'`);
    expect(key.def).toBe('PRIMARY KEY (organization_id, id)');
    const [fk] = await db.query(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'notes_organization_id_fkey'`);
    expect(fk.def).toBe('FOREIGN KEY (organization_id) REFERENCES base.organizations(id) ON DELETE CASCADE');
    const [flags] = await db.query(`SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'keys_test.notes'::regclass`);
    expect(flags).toEqual({ relrowsecurity: true, relforcerowsecurity: true });
    expect(await violations()).toEqual({});

    // As the application role: its own organization's rows only, and audited.
    await withTenant(db.dataSource, a, (m) =>
      m.query(`INSERT INTO keys_test.notes (organization_id, title, slug) VALUES ($1, 'n', 'n')`, [a]),
    );
    expect(await withTenant(db.dataSource, b, (m) => m.query('SELECT * FROM keys_test.notes'))).toEqual([]);
    await expect(
      withTenant(db.dataSource, b, (m) => m.query(`INSERT INTO keys_test.notes (organization_id, title, slug) VALUES ($1, 'x', 'x')`, [a])),
    ).rejects.toThrow(/row-level security/);
    expect(await db.query(`SELECT action FROM base.audit_log WHERE table_name = 'keys_test.notes'`)).toEqual([{ action: 'insert' }]);

    await dropTenantTable(db, notes);
    expect(await catalogSnapshot(db, ['keys_test', 'base'])).toEqual(before);
  });

  it('refuses a spec that would not give the standard key', async () => {
    await expect(createTenantTable(db, { ...notes, key: ['nope'] })).rejects.toThrow(/key column "nope" is not among its columns/);
    await expect(createTenantTable(db, { ...notes, columns: { ...notes.columns, organization_id: 'uuid' } })).rejects.toThrow(
      /organization_id is added by the helper/,
    );
    expect(await db.query(`SELECT to_regclass('keys_test.notes') AS t`)).toEqual([{ t: null }]);
  });

  it('a partitioned tenant table has the partition column in its key and its policy registered; after retention detaches a partition, validate still passes', async () => {
    await createTenantTable(db, readings);
    const [key] = await db.query(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'readings_pkey'`);
    expect(key.def).toBe('PRIMARY KEY (organization_id, id, taken_at)');
    expect(
      await db.query(
        `SELECT control_column, partition_interval, premake, retention_mode FROM base.partition_policies WHERE parent_table = $1`,
        [readings.table],
      ),
    ).toEqual([{ control_column: 'taken_at', partition_interval: 'month', premake: 1, retention_mode: 'detach' }]);

    await db.query(
      `INSERT INTO keys_test.readings (organization_id, taken_at, value) VALUES ($1, now() - interval '6 months', 1), ($1, now(), 2)`,
      [a],
    );
    const report = await runMaintenance(db, readings.table);
    const detached = report.tables[0].detached;
    expect(detached).toHaveLength(1);
    expect(await violations()).toEqual({});

    // The archive keeps forced row-level security; without it, it is reported.
    await db.query(`ALTER TABLE keys_test.${detached[0]} NO FORCE ROW LEVEL SECURITY`);
    expect(await violations()).toEqual({
      'detached partitions keep row-level security forced': [`keys_test.${detached[0]} (detached from keys_test.readings)`],
    });
    await db.query(`ALTER TABLE keys_test.${detached[0]} FORCE ROW LEVEL SECURITY`);
    expect(await violations()).toEqual({});
  });

  it('reports a tenant key or unique constraint without organization_id, and a SET NULL column list', async () => {
    await db.query(`
      CREATE TABLE keys_test.legacy (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL REFERENCES base.organizations(id) ON DELETE CASCADE,
        code text UNIQUE,
        UNIQUE (organization_id, id));
      CREATE TABLE keys_test.legacy_links (
        organization_id uuid NOT NULL REFERENCES base.organizations(id) ON DELETE CASCADE,
        id uuid NOT NULL,
        legacy_id uuid,
        PRIMARY KEY (organization_id, id),
        CONSTRAINT legacy_links_organization_id_legacy_id_fkey FOREIGN KEY (organization_id, legacy_id)
          REFERENCES keys_test.legacy (organization_id, id) ON DELETE SET NULL (legacy_id));
      SELECT base.enable_tenant_rls('keys_test.legacy');
      SELECT base.enable_tenant_rls('keys_test.legacy_links');`);
    expect(await violations()).toEqual({
      'tenant tables have a primary key that includes organization_id': ['keys_test.legacy'],
      'unique constraints of tenant tables include organization_id': ['keys_test.legacy_code_key'],
      'references clear no column list on delete (SET NULL (col) is refused by Citus)': [
        'keys_test.legacy_links.legacy_links_organization_id_legacy_id_fkey',
      ],
    });

    // replaceKeys moves the table to the tenant key; the reference resting on the old key comes back as it was.
    await db.query(`COMMENT ON CONSTRAINT legacy_links_organization_id_legacy_id_fkey ON keys_test.legacy_links IS 'kept'`);
    await replaceKeys(db, 'keys_test.legacy', {
      drop: ['legacy_pkey', 'legacy_organization_id_id_key', 'legacy_code_key'],
      add: ['CONSTRAINT "legacy_pkey" PRIMARY KEY ("organization_id", "id")'],
    });
    const [link] = await db.query(
      `SELECT pg_get_constraintdef(c.oid) AS def, obj_description(c.oid, 'pg_constraint') AS comment, i.relname AS key
         FROM pg_constraint c JOIN pg_class i ON i.oid = c.conindid WHERE c.conname = 'legacy_links_organization_id_legacy_id_fkey'`,
    );
    expect(link).toEqual({
      def: 'FOREIGN KEY (organization_id, legacy_id) REFERENCES keys_test.legacy(organization_id, id) ON DELETE SET NULL (legacy_id)',
      comment: 'kept',
      key: 'legacy_pkey',
    });
    await db.query('DROP TABLE keys_test.legacy_links, keys_test.legacy');
    expect(await violations()).toEqual({});
  });

  it('a foreign key added NOT VALID is reported until it is validated; addForeignKey adds it that way, validateForeignKey validates it', async () => {
    await createTenantTable(db, notes);
    await createTenantTable(db, {
      table: 'keys_test.comments',
      columns: { id: 'uuid NOT NULL DEFAULT gen_random_uuid()', note_id: 'uuid NOT NULL' },
    });
    const reference: ForeignKey = {
      table: 'keys_test.comments',
      name: 'comments_organization_id_note_id_fkey',
      columns: ['organization_id', 'note_id'],
      references: { table: 'keys_test.notes', columns: ['organization_id', 'id'] },
      onDelete: 'CASCADE',
      comment: 'strata:manual cross-module reference',
    };
    await db.query(
      `ALTER TABLE keys_test.comments ADD CONSTRAINT comments_organization_id_note_id_fkey FOREIGN KEY (organization_id, note_id)
         REFERENCES keys_test.notes (organization_id, id) ON DELETE CASCADE NOT VALID`,
    );
    expect(await violations()).toEqual({ 'constraints are validated': ['keys_test.comments.comments_organization_id_note_id_fkey'] });
    await db.query('ALTER TABLE keys_test.comments VALIDATE CONSTRAINT comments_organization_id_note_id_fkey');
    expect(await violations()).toEqual({});

    await db.query('ALTER TABLE keys_test.comments DROP CONSTRAINT comments_organization_id_note_id_fkey');
    const state = () =>
      db.query(
        `SELECT convalidated, obj_description(oid, 'pg_constraint') AS comment FROM pg_constraint WHERE conname = 'comments_organization_id_note_id_fkey'`,
      );
    await addForeignKey(db, reference);
    expect(await state()).toEqual([{ convalidated: false, comment: 'strata:manual cross-module reference' }]);
    await validateForeignKey(db, reference);
    expect(await state()).toEqual([{ convalidated: true, comment: 'strata:manual cross-module reference' }]);
    expect(await violations()).toEqual({});
    await unvalidateForeignKey(db, reference);
    expect(await state()).toEqual([{ convalidated: false, comment: 'strata:manual cross-module reference' }]);
    await validateForeignKey(db, reference);
    // The key holds: a comment on another organization's note is refused.
    await withTenant(db.dataSource, b, (m) =>
      m.query(`INSERT INTO keys_test.notes (organization_id, title, slug) VALUES ($1, 'b', 'b')`, [b]),
    );
    const [noteB] = await db.query(`SELECT id FROM keys_test.notes WHERE organization_id = $1`, [b]);
    await expect(
      withTenant(db.dataSource, a, (m) =>
        m.query('INSERT INTO keys_test.comments (organization_id, note_id) VALUES ($1, $2)', [a, noteB.id]),
      ),
    ).rejects.toThrow(/comments_organization_id_note_id_fkey/);
  });
});
