import pgvector from 'pgvector/pg';
import { DataSource, Entity, MigrationInterface, PrimaryColumn, QueryRunner } from 'typeorm';
import { expectEachMigrationReverts, useTestDatabase } from '@strata/testing';
import {
  ConfigurationError,
  MigrationError,
  MigrationRunner,
  VectorColumn,
  baseModule,
  checkSchemaDrift,
  createDataSource,
  createHnswIndex,
  defineModule,
  dropHnswIndex,
  hnswIndexName,
  requireExtension,
} from '../src';

// A module with a vector(3) and a halfvec(3) column, each with an HNSW index, as a module would write it.
@Entity({ schema: 'vector_test', name: 'documents' })
class Document {
  @PrimaryColumn({ type: 'int' }) id!: number;
  @VectorColumn(3) embedding!: number[];
  @VectorColumn(3, { type: 'halfvec', nullable: true }) sketch!: number[] | null;
}

const cosine = { table: 'vector_test.documents', column: 'embedding', ops: 'vector_cosine_ops' } as const;
const halfL2 = { table: 'vector_test.documents', column: 'sketch', ops: 'halfvec_l2_ops' } as const;

class CreateDocuments1796204000001 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    await requireExtension(q, 'vector');
    await q.query('CREATE TABLE vector_test.documents (id int PRIMARY KEY, embedding vector(3) NOT NULL, sketch halfvec(3))');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE vector_test.documents');
  }
}

class IndexDocuments1796204000002 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    await createHnswIndex(q, cosine, { m: 8, efConstruction: 32 });
    await createHnswIndex(q, halfL2);
  }
  async down(q: QueryRunner): Promise<void> {
    await dropHnswIndex(q, halfL2);
    await dropHnswIndex(q, cosine);
  }
}

const vectorModule = defineModule({
  name: 'vector_test',
  requires: ['base'],
  entities: [Document],
  migrations: [CreateDocuments1796204000001, IndexDocuments1796204000002],
});

const rows: Document[] = [
  { id: 1, embedding: [1, 0, 0], sketch: [0, 0, 0] },
  { id: 2, embedding: [0, 1, 0], sketch: [1, 1, 1] },
  { id: 3, embedding: [0.9, 0.1, 0], sketch: [4, 4, 4] },
  { id: 4, embedding: [0, 0, 1], sketch: null },
];

const db = useTestDatabase({ modules: [baseModule] });

describe('requireExtension', () => {
  it('passes for pgvector, which the server has (creating it in this database when needed)', async () => {
    await requireExtension(db.dataSource, 'vector');
    await requireExtension(db.dataSource, 'vector'); // again: nothing to do
    expect(await db.query(`SELECT extname FROM pg_extension WHERE extname = 'vector'`)).toEqual([{ extname: 'vector' }]);
  });

  it('refuses, with what to install, an extension the server does not have', async () => {
    const error = await requireExtension(db.dataSource, 'strata_absent_extension').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toMatch(/^extension "strata_absent_extension" is not installed on this server: install it/);
    expect(await db.query(`SELECT 1 FROM pg_extension WHERE extname = 'strata_absent_extension'`)).toEqual([]);
  });

  it('a migration that needs it fails before creating anything, and says so', async () => {
    class NeedsAbsent1796204000003 implements MigrationInterface {
      async up(q: QueryRunner): Promise<void> {
        await requireExtension(q, 'strata_absent_extension');
        await q.query('CREATE TABLE absent_test.things (id int)');
      }
      async down(q: QueryRunner): Promise<void> {
        await q.query('DROP TABLE absent_test.things');
      }
    }
    const needsAbsent = defineModule({ name: 'absent_test', requires: ['base'], entities: [], migrations: [NeedsAbsent1796204000003] });
    await expect(new MigrationRunner({ url: db.url }).up([baseModule, needsAbsent])).rejects.toThrow(
      /NeedsAbsent1796204000003 failed .*extension "strata_absent_extension" is not installed on this server/,
    );
    expect(await db.query(`SELECT to_regclass('absent_test.things') AS things`)).toEqual([{ things: null }]);
  });
});

describe('vector columns', () => {
  let vectorSource: DataSource;
  beforeAll(async () => {
    await new MigrationRunner({ url: db.url }).up([baseModule, vectorModule]);
    vectorSource = await createDataSource({ url: db.url, poolSize: db.poolSize, modules: [baseModule, vectorModule] }).initialize();
  });
  afterAll(async () => vectorSource?.destroy());

  it('map number[] both ways, with their dimensions, and the drift check is clean', async () => {
    const documents = vectorSource.getRepository(Document);
    await documents.insert(rows);
    expect(await documents.find({ order: { id: 'ASC' } })).toEqual(rows);
    expect(
      await db.query(
        `SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'vector_test.documents'::regclass AND attnum > 1 ORDER BY attnum`,
      ),
    ).toEqual([{ type: 'vector(3)' }, { type: 'halfvec(3)' }]);

    const report = await checkSchemaDrift(db.url, vectorModule, [baseModule, vectorModule]);
    expect(report.statements).toEqual([]);
    // TypeORM would drop the HNSW indexes it cannot express; their strata:manual mark keeps them out.
    expect(report.ignored.join('\n')).toContain(hnswIndexName(cosine));
  });

  it('a dimension change is drift', async () => {
    @Entity({ schema: 'vector_test', name: 'documents' })
    class WiderDocument {
      @PrimaryColumn({ type: 'int' }) id!: number;
      @VectorColumn(4) embedding!: number[];
      @VectorColumn(3, { type: 'halfvec', nullable: true }) sketch!: number[] | null;
    }
    const wider = { ...vectorModule, entities: [WiderDocument] };
    const report = await checkSchemaDrift(db.url, wider, [baseModule, wider]);
    expect(report.statements.join('\n')).toMatch(/"embedding" vector\(4\)/);
  });

  it('creates one HNSW index per distance, named by the house convention, with its build settings', async () => {
    expect(hnswIndexName(cosine)).toBe('documents_embedding_cosine_idx');
    expect(hnswIndexName(halfL2)).toBe('documents_sketch_l2_idx');
    const indexes = await db.query<{ indexname: string; indexdef: string }>(
      `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'vector_test' AND indexdef LIKE '%hnsw%' ORDER BY indexname`,
    );
    expect(indexes).toEqual([
      {
        indexname: 'documents_embedding_cosine_idx',
        indexdef: expect.stringMatching(/USING hnsw \(embedding vector_cosine_ops\) WITH \(m='?8'?, ef_construction='?32'?\)/),
      },
      { indexname: 'documents_sketch_l2_idx', indexdef: expect.stringMatching(/USING hnsw \(sketch halfvec_l2_ops\)$/) },
    ]);
  });

  it('a nearest-neighbour query by the index distance uses the index and finds the nearest rows', async () => {
    const nearest = async (sql: string, vector: number[]) =>
      vectorSource.transaction(async (tx) => {
        await tx.query('SET LOCAL enable_seqscan = off'); // four rows: only a table too small for the index would not use it
        const plan = (await tx.query(`EXPLAIN ${sql}`, [pgvector.toSql(vector)]))
          .map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN'])
          .join('\n');
        const ids = (await tx.query(sql, [pgvector.toSql(vector)])).map((r: { id: number }) => r.id);
        return { plan, ids };
      });

    const byCosine = await nearest('SELECT id FROM vector_test.documents ORDER BY embedding <=> $1 LIMIT 2', [1, 0.05, 0]);
    expect(byCosine.plan).toMatch(/Index Scan using documents_embedding_cosine_idx/);
    expect(byCosine.ids).toEqual([1, 3]);

    const byL2 = await nearest('SELECT id FROM vector_test.documents ORDER BY sketch <-> $1::halfvec LIMIT 2', [3, 3, 3]);
    expect(byL2.plan).toMatch(/Index Scan using documents_sketch_l2_idx/);
    expect(byL2.ids).toEqual([3, 2]);
  });

  it('builds and drops an index concurrently, outside a transaction, for a table that must stay writable', async () => {
    const innerProduct = { table: 'vector_test.documents', column: 'embedding', ops: 'vector_ip_ops' } as const;
    const name = await createHnswIndex(db.dataSource, innerProduct, { concurrently: true });
    expect(name).toBe('documents_embedding_ip_idx');
    expect(
      await db.query(`SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'vector_test.documents_embedding_ip_idx'::regclass`),
    ).toEqual([{ valid: true }]);
    await dropHnswIndex(db.dataSource, innerProduct, { concurrently: true });
    expect(await db.query(`SELECT to_regclass('vector_test.documents_embedding_ip_idx') AS idx`)).toEqual([{ idx: null }]);
  });

  it("each migration's down restores the catalog its up found", async () => {
    await new MigrationRunner({ url: db.url }).down(vectorModule, { to: '0' });
    await expectEachMigrationReverts(db, vectorModule, { requires: [baseModule] });
  });
});

describe('vector helpers refuse bad declarations', () => {
  it('VectorColumn needs whole, positive dimensions', () => {
    expect(() => VectorColumn(0)).toThrow(ConfigurationError);
    expect(() => VectorColumn(1.5)).toThrow(/dimensions must be an integer from 1 to 16000, got 1.5/);
  });

  it('an HNSW index needs a schema-qualified table and a known operator class', () => {
    expect(() => hnswIndexName({ table: 'documents', column: 'embedding', ops: 'vector_l2_ops' })).toThrow(/schema-qualified/);
    expect(() => hnswIndexName({ table: 'a.documents', column: 'embedding', ops: 'vector_l1_ops' as never })).toThrow(
      /Unknown HNSW operator class/,
    );
  });
});
