import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ConflictError, NotFoundError, StateError, ValidationError, baseModule, withTenant } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import {
  ArtifactIntegrityError,
  ArtifactsService,
  FilesystemArtifactStore,
  ModelVersionsService,
  ModelsService,
  defaultArtifactDirectory,
  learningModule,
} from '../src';
import { UNKNOWN_ID, createOrganization, expectNothingWritten, expectRefused } from './support';

const sha256 = (content: Buffer) => createHash('sha256').update(content).digest('hex');

describe('artifacts', () => {
  const db = useTestDatabase({ modules: [baseModule, learningModule] });
  let root: string;
  let artifacts: ArtifactsService;
  let a: string;
  let b: string;
  let versionId: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'strata-artifacts-'));
    artifacts = new ArtifactsService(db.dataSource, { filesystem: new FilesystemArtifactStore(root), inlineLimitBytes: 1024 });
    a = await createOrganization(db, 'a');
    b = await createOrganization(db, 'b');
    const model = await new ModelsService(db.dataSource).create(a, { name: 'weights', type: 'prediction' });
    versionId = (await new ModelVersionsService(db.dataSource).create(a, model.id)).id;
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const filesUnder = async (dir: string): Promise<string[]> =>
    (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));

  it('keeps small content in PostgreSQL and large content in a file, addressed by SHA-256', async () => {
    const small = Buffer.from('{"threshold":0.5}');
    const large = Buffer.alloc(4096, 7);
    const inline = await artifacts.put(a, small, { mediaType: 'application/json', sha256: sha256(small) });
    const file = await artifacts.put(a, large);
    expect(inline).toMatchObject({
      created: true,
      artifact: { sha256: sha256(small), sizeBytes: small.length, storage: 'database', location: null },
    });
    expect(file).toMatchObject({
      created: true,
      artifact: { sha256: sha256(large), sizeBytes: 4096, storage: 'filesystem', mediaType: 'application/octet-stream' },
    });
    expect(file.artifact.location).toBe(`${a}/${sha256(large).slice(0, 2)}/${sha256(large)}-${file.artifact.id}`);
    expect(await readFile(join(root, file.artifact.location!))).toEqual(large);
    expect(await artifacts.read(a, inline.artifact.id)).toEqual(small);
    expect(await artifacts.read(a, file.artifact.id)).toEqual(large);
    expect((await artifacts.findBySha256(a, sha256(large)))?.id).toBe(file.artifact.id);
    await expectRefused(artifacts.read(b, file.artifact.id), NotFoundError, 'artifact');
  });

  it('stores the same content once per organization, also when put concurrently', async () => {
    const content = Buffer.alloc(2048, 'model');
    const results = await Promise.all(Array.from({ length: 6 }, () => artifacts.put(a, content)));
    expect(new Set(results.map((r) => r.artifact.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const [{ count }] = await db.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM learning.artifacts WHERE organization_id = $1 AND sha256 = $2`,
      [a, sha256(content)],
    );
    expect(count).toBe(1);
    expect((await filesUnder(root)).filter((f) => f.includes(sha256(content)))).toHaveLength(1);
    // Another organization stores its own copy.
    const other = await artifacts.put(b, content);
    expect(other.created).toBe(true);
    expect(other.artifact.id).not.toBe(results[0].artifact.id);
  });

  it('refuses content that does not match the hash it was sent with, and bad input; writes nothing', async () => {
    await expectNothingWritten(db, async () => {
      await expectRefused(artifacts.put(a, Buffer.from('abc'), { sha256: sha256(Buffer.from('abd')) }), ValidationError, ['sha256']);
      await expectRefused(artifacts.put(a, Buffer.alloc(5000), { sha256: '0'.repeat(64) }), ValidationError, ['sha256']);
      await expectRefused(artifacts.put(a, Buffer.from('x'), { sha256: 'ABC' }), ValidationError, ['sha256']);
      await expectRefused(artifacts.put(a, 'text' as never), ValidationError, ['content']);
      await expectRefused(artifacts.put(a, Buffer.from('x'), { mediaType: 'not a type' }), ValidationError, ['mediaType']);
      await expectRefused(artifacts.get(a, 'nope'), ValidationError, ['artifactId']);
      await expectRefused(artifacts.put(UNKNOWN_ID, Buffer.from('x')), NotFoundError, 'organization');
    });
    expect(() => new ArtifactsService(db.dataSource, { inlineLimitBytes: 2 * 1024 * 1024 })).toThrow(ValidationError);
  });

  it('detects a corrupted or missing file and a tampered blob on read', async () => {
    const large = Buffer.alloc(3000, 'weights');
    const { artifact } = await artifacts.put(a, large);
    const path = join(root, artifact.location!);
    const corrupted = Buffer.from(large);
    corrupted[100] ^= 0xff;
    await writeFile(path, corrupted);
    await expectRefused(artifacts.read(a, artifact.id), ArtifactIntegrityError);
    await rm(path);
    await expectRefused(artifacts.read(a, artifact.id), ArtifactIntegrityError);

    const { artifact: small } = await artifacts.put(a, Buffer.from('tiny'));
    await db.query(`UPDATE learning.artifact_blobs SET content = 'tinY'::bytea WHERE artifact_id = $1`, [small.id]);
    await expectRefused(artifacts.read(a, small.id), ArtifactIntegrityError);
  });

  it('a filesystem write that lands different bytes is refused and leaves nothing behind', async () => {
    // A store whose disk flips a bit: the check after writing catches it.
    class FlakyDisk extends FilesystemArtifactStore {
      override async write(...args: Parameters<FilesystemArtifactStore['write']>): Promise<void> {
        const [manager, artifact, content] = args;
        const flipped = Buffer.from(content);
        flipped[0] ^= 1;
        return super.write(manager, artifact, flipped);
      }
    }
    const flakyRoot = await mkdtemp(join(tmpdir(), 'strata-flaky-'));
    const flaky = new ArtifactsService(db.dataSource, { filesystem: new FlakyDisk(flakyRoot), inlineLimitBytes: 0 });
    try {
      await expectNothingWritten(db, async () => {
        await expectRefused(flaky.put(a, Buffer.from('flaky content')), ArtifactIntegrityError);
      });
      expect(await filesUnder(flakyRoot)).toEqual([]);
    } finally {
      await rm(flakyRoot, { recursive: true, force: true });
    }
  });

  it('links artifacts to model versions; garbage collection keeps linked artifacts and removes the rest with their content', async () => {
    const kept = await artifacts.put(a, Buffer.alloc(1500, 'kept'));
    const smallKept = await artifacts.put(a, Buffer.from('config'));
    const dropped = await artifacts.put(a, Buffer.alloc(1600, 'dropped'));
    await artifacts.linkToVersion(a, versionId, { name: 'weights', artifactId: kept.artifact.id });
    await artifacts.linkToVersion(a, versionId, { name: 'config', artifactId: smallKept.artifact.id });
    await expectRefused(artifacts.linkToVersion(a, versionId, { name: 'weights', artifactId: dropped.artifact.id }), ConflictError, [
      'name',
    ]);
    await expectRefused(artifacts.linkToVersion(a, versionId, { name: 'x', artifactId: UNKNOWN_ID }), ValidationError, ['artifactId']);
    const ofB = await artifacts.put(b, Buffer.from('b only'));
    await expectRefused(artifacts.linkToVersion(a, versionId, { name: 'x', artifactId: ofB.artifact.id }), ValidationError, ['artifactId']);
    expect((await artifacts.listForVersion(a, versionId)).map((l) => [l.name, l.artifact.id])).toEqual([
      ['config', smallKept.artifact.id],
      ['weights', kept.artifact.id],
    ]);

    const removed = await artifacts.collectGarbage(a);
    const removedIds = removed.map((r) => r.id);
    expect(removedIds).toContain(dropped.artifact.id);
    expect(removedIds).not.toContain(kept.artifact.id);
    expect(removedIds).not.toContain(smallKept.artifact.id);
    const left = await db.query<{ id: string }>(`SELECT id FROM learning.artifacts WHERE organization_id = $1`, [a]);
    expect(left.map((r) => r.id).sort()).toEqual([kept.artifact.id, smallKept.artifact.id].sort());
    const [{ blobs }] = await db.query<{ blobs: number }>(
      `SELECT count(*)::int AS blobs FROM learning.artifact_blobs WHERE organization_id = $1`,
      [a],
    );
    expect(blobs).toBe(1);
    expect((await filesUnder(join(root, a))).map((f) => f.slice(-36))).toEqual([kept.artifact.id]);
    expect(await artifacts.read(a, kept.artifact.id)).toEqual(Buffer.alloc(1500, 'kept'));
    // Another organization's artifacts are not touched.
    expect((await artifacts.get(b, ofB.artifact.id)).id).toBe(ofB.artifact.id);

    // Unlinked, it goes at the next collection.
    await artifacts.unlinkFromVersion(a, versionId, 'weights');
    expect((await artifacts.collectGarbage(a)).map((r) => r.id)).toEqual([kept.artifact.id]);
    await expectRefused(artifacts.unlinkFromVersion(a, versionId, 'weights'), NotFoundError, 'model version artifact');
  });

  it('a linked artifact cannot be deleted behind the service, and collection inside a caller transaction is refused', async () => {
    const { artifact } = await artifacts.put(a, Buffer.from('pinned'));
    await artifacts.linkToVersion(a, versionId, { name: 'pinned', artifactId: artifact.id });
    await expect(
      withTenant(db.dataSource, a, (tx) => tx.query(`DELETE FROM learning.artifacts WHERE id = $1`, [artifact.id])),
    ).rejects.toThrow(/model_version_artifacts_organization_id_artifact_id_fkey/);
    await expect(withTenant(db.dataSource, a, (tx) => artifacts.with(tx).collectGarbage(a))).rejects.toThrow(StateError);
  });

  it('defaults to artifacts next to the data directory', () => {
    expect(defaultArtifactDirectory({ STRATA_DATA_DIR: '/srv/strata/pgdata' })).toBe('/srv/strata/artifacts');
    expect(defaultArtifactDirectory({ STRATA_ARTIFACTS_DIR: '/mnt/blobs' })).toBe('/mnt/blobs');
    expect(defaultArtifactDirectory({})).toBe(join(process.cwd(), '.strata', 'artifacts'));
  });
});
