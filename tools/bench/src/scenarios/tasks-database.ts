import { DataSource } from 'typeorm';
import { MigrationRunner, OrganizationsService, baseModule, createDataSource } from '@strata/base';
import { tasksModule } from '@strata/tasks';
import { Target, scratch } from '../harness';

export const TASKS_MODULES = [baseModule, tasksModule];

/** A fresh scratch database migrated with base + tasks, holding one organization. */
export interface TasksDatabase {
  url: string;
  organizationId: string;
  /** Connected as the owner (one connection), for setup and checks outside the measured time. */
  dataSource: DataSource;
  dispose(): Promise<void>;
}

export async function tasksDatabase(target: Target): Promise<TasksDatabase> {
  const db = await scratch(target);
  try {
    await new MigrationRunner({ url: db.url }).up(TASKS_MODULES);
    const dataSource = await createDataSource({ url: db.url, poolSize: 1, modules: TASKS_MODULES }).initialize();
    const organization = await new OrganizationsService(dataSource).create({ name: 'Bench', slug: 'bench' });
    return {
      url: db.url,
      organizationId: organization.id,
      dataSource,
      dispose: async () => {
        await dataSource.destroy();
        await db.dispose();
      },
    };
  } catch (error) {
    await db.dispose();
    throw error;
  }
}
