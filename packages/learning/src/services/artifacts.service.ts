import { randomUUID } from 'node:crypto';
import { IsOptional, IsString, IsUUID, Length, Matches } from 'class-validator';
import {
  NotFoundError,
  OptionalNotNull,
  StateError,
  TenantConnection,
  TenantService,
  ValidationError,
  hydrate,
  validateId,
  validateInput,
} from '@strata/base';
import { Artifact, MAX_DATABASE_BLOB_BYTES, ModelVersionArtifact } from '../entities';
import type { ArtifactStorage } from '../entities';
import { learningModule } from '../learning.module';
import { ArtifactIntegrityError, ArtifactStore, DatabaseArtifactStore, FilesystemArtifactStore, sha256Hex } from './artifact-stores';
import { rethrowDatabaseError } from './database-errors';

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(\s*;.{1,200})?$/i;

export class PutArtifactOptions {
  @OptionalNotNull()
  @IsString()
  @Matches(MEDIA_TYPE, { message: 'mediaType must be a media type such as application/octet-stream' })
  mediaType?: string;
  /** The SHA-256 (hex) the caller expects: content that does not match it is refused. */
  @OptionalNotNull() @Matches(/^[0-9a-f]{64}$/, { message: 'sha256 must be 64 lower-case hex digits' }) sha256?: string;
  @IsOptional() @IsUUID() createdBy?: string | null;
}

export class LinkArtifactInput {
  @IsString() @Length(1, 255) name!: string;
  @IsUUID() artifactId!: string;
}

export interface ArtifactsServiceOptions {
  /** Where content larger than `inlineLimitBytes` goes (default: files under the data directory). */
  filesystem?: ArtifactStore;
  /** Where small content goes (default: PostgreSQL). */
  database?: ArtifactStore;
  /** Content up to this size is kept in PostgreSQL (default 64 KiB, at most 1 MiB; 0 sends everything to files). */
  inlineLimitBytes?: number;
}

export interface PutResult {
  artifact: Artifact;
  /** False when the organization already had this content: it was not stored again. */
  created: boolean;
}

/**
 * Content-addressed artifacts (model weights, datasets, reports). The same
 * content is stored once per organization; every write and every read checks
 * the SHA-256. Artifacts linked to a model version are kept; `collectGarbage`
 * removes the others.
 */
export class ArtifactsService extends TenantService {
  private readonly stores: Record<ArtifactStorage, ArtifactStore>;
  private readonly inlineLimit: number;

  constructor(connection: TenantConnection, options: ArtifactsServiceOptions = {}) {
    super(connection, learningModule);
    this.stores = {
      filesystem: options.filesystem ?? new FilesystemArtifactStore(),
      database: options.database ?? new DatabaseArtifactStore(),
    };
    const limit = options.inlineLimitBytes ?? 64 * 1024;
    if (!Number.isInteger(limit) || limit < 0 || limit > MAX_DATABASE_BLOB_BYTES) {
      throw ValidationError.forField('inlineLimitBytes', `must be an integer from 0 to ${MAX_DATABASE_BLOB_BYTES}`, 'artifact store');
    }
    this.inlineLimit = limit;
  }

  /** Stores `content` (or finds it already stored) and returns its artifact. */
  async put(organizationId: string, content: Buffer | Uint8Array, options: PutArtifactOptions = {}): Promise<PutResult> {
    if (!(content instanceof Uint8Array)) throw ValidationError.forField('content', 'must be a Buffer or Uint8Array', 'artifact');
    const valid = await validateInput(PutArtifactOptions, options, 'artifact');
    const bytes = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    const sha256 = sha256Hex(bytes);
    if (valid.sha256 !== undefined && valid.sha256 !== sha256) {
      throw ValidationError.forField('sha256', `the content's SHA-256 is ${sha256}, not ${valid.sha256}`, 'artifact');
    }
    const store = this.stores[bytes.length <= this.inlineLimit ? 'database' : 'filesystem'];
    try {
      return await this.scope.run(organizationId, async (m) => {
        const id = randomUUID();
        const location = store.locate({ organizationId, id, sha256 });
        // A concurrent put of the same content waits here for the other, then finds its row.
        const inserted: Record<string, unknown>[] = await m.query(
          `INSERT INTO learning.artifacts (organization_id, id, sha256, size_bytes, media_type, storage, location, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (organization_id, sha256) DO NOTHING RETURNING *`,
          [
            organizationId,
            id,
            sha256,
            bytes.length,
            valid.mediaType ?? 'application/octet-stream',
            store.storage,
            location,
            valid.createdBy ?? null,
          ],
        );
        if (inserted.length === 0) {
          const existing = await m.getRepository(Artifact).findOneByOrFail({ organizationId, sha256 });
          return { artifact: existing, created: false };
        }
        const artifact = hydrate(m, Artifact, inserted)[0];
        await store.write(m, artifact, bytes);
        return { artifact, created: true };
      });
    } catch (error) {
      rethrowDatabaseError(error, 'artifact');
    }
  }

  async get(organizationId: string, artifactId: string): Promise<Artifact> {
    validateId(artifactId, 'artifactId', 'artifact');
    const found = await this.scope.run(organizationId, (m) => m.getRepository(Artifact).findOneBy({ organizationId, id: artifactId }));
    if (!found) throw new NotFoundError('artifact', { id: artifactId });
    return found;
  }

  async findBySha256(organizationId: string, sha256: string): Promise<Artifact | null> {
    if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) {
      throw ValidationError.forField('sha256', 'must be 64 lower-case hex digits', 'artifact');
    }
    return this.scope.run(organizationId, (m) => m.getRepository(Artifact).findOneBy({ organizationId, sha256 }));
  }

  /** The artifact's content, checked against its SHA-256 and size (ArtifactIntegrityError when it does not match). */
  async read(organizationId: string, artifactId: string): Promise<Buffer> {
    validateId(artifactId, 'artifactId', 'artifact');
    return this.scope.run(organizationId, async (m) => {
      const artifact = await m.getRepository(Artifact).findOneBy({ organizationId, id: artifactId });
      if (!artifact) throw new NotFoundError('artifact', { id: artifactId });
      const content = await this.stores[artifact.storage].read(m, artifact);
      const actual = sha256Hex(content);
      if (actual !== artifact.sha256 || content.length !== artifact.sizeBytes) {
        throw new ArtifactIntegrityError(`artifact ${artifactId} is corrupted: its content has SHA-256 ${actual}, not ${artifact.sha256}`);
      }
      return content;
    });
  }

  /** Links an artifact to a model version under `name` (`weights`, `tokenizer`); linking the same name again is a ConflictError. */
  async linkToVersion(organizationId: string, versionId: string, input: LinkArtifactInput): Promise<ModelVersionArtifact> {
    validateId(versionId, 'versionId', 'model version artifact');
    const valid = await validateInput(LinkArtifactInput, input, 'model version artifact');
    try {
      return await this.scope.run(organizationId, async (m) => {
        const rows: Record<string, unknown>[] = await m.query(
          `INSERT INTO learning.model_version_artifacts (organization_id, version_id, name, artifact_id) VALUES ($1, $2, $3, $4) RETURNING *`,
          [organizationId, versionId, valid.name, valid.artifactId],
        );
        return hydrate(m, ModelVersionArtifact, rows)[0];
      });
    } catch (error) {
      rethrowDatabaseError(error, 'model version artifact');
    }
  }

  async unlinkFromVersion(organizationId: string, versionId: string, name: string): Promise<void> {
    validateId(versionId, 'versionId', 'model version artifact');
    if (typeof name !== 'string' || name.length < 1 || name.length > 255) {
      throw ValidationError.forField('name', 'must be a string of 1 to 255 characters', 'model version artifact');
    }
    const removed = await this.scope.run(organizationId, (m) =>
      m.query(
        `WITH removed AS (DELETE FROM learning.model_version_artifacts WHERE organization_id = $1 AND version_id = $2 AND name = $3 RETURNING 1)
         SELECT * FROM removed`,
        [organizationId, versionId, name],
      ),
    );
    if ((removed as unknown[]).length === 0) throw new NotFoundError('model version artifact', { versionId, name });
  }

  /** The artifacts of a model version, by name. */
  async listForVersion(organizationId: string, versionId: string): Promise<{ name: string; artifact: Artifact }[]> {
    validateId(versionId, 'versionId', 'model version artifact');
    return this.scope.run(organizationId, async (m) => {
      const rows: (Record<string, unknown> & { link_name: string })[] = await m.query(
        `SELECT a.*, l.name AS link_name FROM learning.model_version_artifacts l
           JOIN learning.artifacts a ON a.organization_id = l.organization_id AND a.id = l.artifact_id
          WHERE l.organization_id = $1 AND l.version_id = $2 ORDER BY l.name`,
        [organizationId, versionId],
      );
      const artifacts = hydrate(m, Artifact, rows);
      return artifacts.map((artifact, i) => ({ name: rows[i].link_name, artifact }));
    });
  }

  /**
   * Removes the organization's artifacts that nothing links (content and row),
   * and returns them. Rows another transaction is working on are skipped. It is
   * a transaction of its own, because files are removed only after the rows'
   * deletion has committed.
   */
  async collectGarbage(organizationId: string): Promise<Artifact[]> {
    if (this.scope.transaction) throw new StateError('collectGarbage runs in a transaction of its own: call it on the standalone service');
    const removed = await this.scope.run(organizationId, async (m) => {
      const rows: Record<string, unknown>[] = await m.query(
        `WITH removed AS (DELETE FROM learning.artifacts a WHERE a.organization_id = $1 AND a.id IN (
           SELECT c.id FROM learning.artifacts c
            WHERE c.organization_id = $1
              AND NOT EXISTS (SELECT 1 FROM learning.model_version_artifacts l WHERE l.organization_id = c.organization_id AND l.artifact_id = c.id)
            FOR UPDATE SKIP LOCKED)
         RETURNING a.*)
         SELECT * FROM removed`,
        [organizationId],
      );
      return hydrate(m, Artifact, rows);
    });
    for (const artifact of removed) await this.stores[artifact.storage].remove(artifact);
    return removed;
  }
}
