import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Statistics that follow a table's growth, on databases without autovacuum.
 *
 * PostgreSQL keeps the plan of a prepared statement (or of a PL/pgSQL
 * statement) until the table's statistics change. The server's autovacuum
 * ANALYZEs a growing table often enough. The embedded database (PGlite) has no
 * autovacuum, so a plan made while a table was small, such as a scan that
 * reads it whole, would stay in use however large it gets. A table given
 * `base.enable_auto_analyze()` is ANALYZEd by the insert statement that first
 * finds it more than twice as large as at its last ANALYZE (and larger than 8
 * pages). Each plan is then never made from a picture more than twice too small,
 * and a table that grows to n pages is analyzed about log2(n) times.
 *
 * The ANALYZE runs in the inserting transaction, as the table's owner. It takes
 * its lock with NOWAIT: when autovacuum or another session already holds it, the
 * insert goes on without waiting, and a later insert analyzes instead.
 */
export class CreateAutoAnalyze1796119318451 implements MigrationInterface {
  name = 'CreateAutoAnalyze1796119318451';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION base.analyze_if_grown() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_pages bigint := pg_relation_size(TG_RELID) / current_setting('block_size')::integer;
      BEGIN
        IF v_pages > 2 * (SELECT greatest(c.relpages, 4) FROM pg_class c WHERE c.oid = TG_RELID) THEN
          BEGIN
            EXECUTE format('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE NOWAIT', TG_RELID::regclass);
            EXECUTE format('ANALYZE %s', TG_RELID::regclass);
          EXCEPTION WHEN lock_not_available THEN
            NULL; -- being vacuumed or analyzed right now: a later insert will see to it
          END;
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`REVOKE ALL ON FUNCTION base.analyze_if_grown() FROM PUBLIC`);
    await q.query(`COMMENT ON FUNCTION base.analyze_if_grown() IS 'Trigger: ANALYZEs its table once it is more than twice as large as at its last ANALYZE (see base.enable_auto_analyze).'`);

    await q.query(`
      CREATE FUNCTION base.enable_auto_analyze(p_table regclass) RETURNS void
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s FOR EACH STATEMENT EXECUTE FUNCTION base.analyze_if_grown()',
                       (SELECT c.relname FROM pg_class c WHERE c.oid = p_table) || '_auto_analyze', p_table);
      END $$`);
    await q.query(`
      CREATE FUNCTION base.disable_auto_analyze(p_table regclass) RETURNS void
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        EXECUTE format('DROP TRIGGER %I ON %s', (SELECT c.relname FROM pg_class c WHERE c.oid = p_table) || '_auto_analyze', p_table);
      END $$`);
    for (const fn of ['enable_auto_analyze(regclass)', 'disable_auto_analyze(regclass)']) {
      await q.query(`REVOKE ALL ON FUNCTION base.${fn} FROM PUBLIC`);
    }
    await q.query(`COMMENT ON FUNCTION base.enable_auto_analyze(regclass) IS 'Keeps a growing table''s statistics fresh where no autovacuum runs (the embedded database): ANALYZE when it has doubled.'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION base.disable_auto_analyze(regclass)`);
    await q.query(`DROP FUNCTION base.enable_auto_analyze(regclass)`);
    await q.query(`DROP FUNCTION base.analyze_if_grown()`);
  }
}
