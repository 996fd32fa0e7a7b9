import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `tasks.refuse_dependency_cycles()` is SECURITY DEFINER (it writes dag_rank,
 * which the application role may not). It is a trigger function, so it only
 * ever runs as the trigger on `tasks.task_dependencies`; nobody needs EXECUTE
 * on it, and like every SECURITY DEFINER function it is not left to PUBLIC.
 */
export class CycleCheckTriggerOnly1796200300000 implements MigrationInterface {
  name = 'CycleCheckTriggerOnly1796200300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`REVOKE EXECUTE ON FUNCTION tasks.refuse_dependency_cycles() FROM PUBLIC`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Back to the default ACL, in its order (PUBLIC, then the owner): the owner's entry is taken out and put back after PUBLIC's.
    await q.query(`
      DO $$
      DECLARE v_owner text := (SELECT p.proowner::regrole::text FROM pg_catalog.pg_proc p
                                WHERE p.oid = 'tasks.refuse_dependency_cycles()'::regprocedure);
      BEGIN
        EXECUTE format('REVOKE EXECUTE ON FUNCTION tasks.refuse_dependency_cycles() FROM %s', v_owner);
        GRANT EXECUTE ON FUNCTION tasks.refuse_dependency_cycles() TO PUBLIC;
        EXECUTE format('GRANT EXECUTE ON FUNCTION tasks.refuse_dependency_cycles() TO %s', v_owner);
      END $$`);
  }
}
