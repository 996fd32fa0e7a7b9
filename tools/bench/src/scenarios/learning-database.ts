import { DataSource } from 'typeorm';
import { MigrationRunner, OrganizationsService, baseModule, createDataSource } from '@strata/base';
import { learningModule } from '@strata/learning';
import { Target, scratch } from '../harness';

export const LEARNING_MODULES = [baseModule, learningModule];

/** A fresh scratch database migrated with base + learning, holding one organization. */
export interface LearningDatabase {
  url: string;
  organizationId: string;
  dataSource: DataSource;
  dispose(): Promise<void>;
}

export async function learningDatabase(target: Target, poolSize = 1): Promise<LearningDatabase> {
  const db = await scratch(target);
  try {
    await new MigrationRunner({ url: db.url }).up(LEARNING_MODULES);
    const dataSource = await createDataSource({ url: db.url, poolSize, modules: LEARNING_MODULES }).initialize();
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
