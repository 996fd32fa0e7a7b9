import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The queue's functions keep their plans for the whole session (see
 * ReusableQueuePlans1796115320111), so those plans must come from statistics
 * that follow the queue's growth, also on the embedded database, which has no
 * autovacuum: tasks and their dependencies are ANALYZEd whenever they have doubled.
 */
export class AutoAnalyzeQueue1796119318452 implements MigrationInterface {
  name = 'AutoAnalyzeQueue1796119318452';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`SELECT base.enable_auto_analyze('tasks.tasks')`);
    await q.query(`SELECT base.enable_auto_analyze('tasks.task_dependencies')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`SELECT base.disable_auto_analyze('tasks.task_dependencies')`);
    await q.query(`SELECT base.disable_auto_analyze('tasks.tasks')`);
  }
}
