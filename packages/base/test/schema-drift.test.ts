import { Column, Entity, PrimaryColumn } from 'typeorm';
import { useTestDatabase } from '@strata/testing';
import { PartitionPolicyRow, baseModule, checkSchemaDrift } from '../src';

describe('drift check', () => {
  const db = useTestDatabase({ modules: [baseModule] });

  it('the migrated base schema matches its entities', async () => {
    const report = await checkSchemaDrift(db.url, baseModule, [baseModule]);
    expect(report.statements).toEqual([]);
  });

  it('an entity changed without a migration is reported', async () => {
    // base.partition_policies as a developer might edit it: one new column, no migration.
    @Entity({ schema: 'base', name: 'partition_policies' })
    class EditedPartitionPolicy extends PartitionPolicyRow {
      @PrimaryColumn({ type: 'text' }) declare parentTable: string;
      @Column({ type: 'varchar', length: 32, nullable: true }) owner!: string | null;
    }
    const edited = { ...baseModule, entities: [...baseModule.entities.filter((e) => e !== PartitionPolicyRow), EditedPartitionPolicy] };
    const report = await checkSchemaDrift(db.url, edited, [edited]);
    expect(report.statements.join('\n')).toMatch(/ADD "owner" character varying\(32\)/);
  });
});
