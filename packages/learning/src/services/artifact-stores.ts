import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_DATA_DIR, StrataError } from '@strata/base';
import { EntityManager } from 'typeorm';
import type { ArtifactStorage } from '../entities';

/** What a store needs to know of the artifact it keeps the content of. */
export interface StoredArtifact {
  organizationId: string;
  id: string;
  sha256: string;
  location: string | null;
}

/**
 * Where artifact content lives. `manager` is the tenant transaction the
 * artifact row is written or read in (the database store works in it; the
 * filesystem store ignores it).
 */
export interface ArtifactStore {
  readonly storage: ArtifactStorage;
  /** The location to record for a new artifact (null when the row itself says where). */
  locate(artifact: Omit<StoredArtifact, 'location'>): string | null;
  /** Stores the content and checks that what was stored has the artifact's hash. */
  write(manager: EntityManager, artifact: StoredArtifact, content: Buffer): Promise<void>;
  /** The stored bytes, as they are (the service checks the hash). */
  read(manager: EntityManager, artifact: StoredArtifact): Promise<Buffer>;
  /** Removes the content after its row was deleted (a no-op where the row's deletion removed it). */
  remove(artifact: StoredArtifact): Promise<void>;
}

/** Stored content does not match its SHA-256 (or is gone): it was corrupted or tampered with. */
export class ArtifactIntegrityError extends StrataError {
  readonly code = 'ARTIFACT_CORRUPTED';
}

export function sha256Hex(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/**
 * The default root of filesystem artifacts: `STRATA_ARTIFACTS_DIR`, else
 * `artifacts` next to the embedded database's data directory (`.strata/artifacts`).
 */
export function defaultArtifactDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.STRATA_ARTIFACTS_DIR?.trim();
  if (explicit) return resolve(explicit);
  const dataDir = env.STRATA_DATA_DIR?.trim();
  const base = dataDir && dataDir !== 'memory://' ? dataDir : DEFAULT_DATA_DIR;
  return join(dirname(resolve(base)), 'artifacts');
}

/**
 * Files under a root directory: `<organization>/<sha256[0..2]>/<sha256>-<artifact id>`.
 * The artifact id in the name means a file is only ever removed with its own
 * row: garbage collection of one row never takes the file of a newer row with
 * the same content. Written to a temporary name and renamed, so a reader never
 * sees half a file.
 */
export class FilesystemArtifactStore implements ArtifactStore {
  readonly storage = 'filesystem' as const;
  readonly root: string;

  constructor(root: string = defaultArtifactDirectory()) {
    this.root = resolve(root);
  }

  locate(artifact: Omit<StoredArtifact, 'location'>): string {
    return `${artifact.organizationId}/${artifact.sha256.slice(0, 2)}/${artifact.sha256}-${artifact.id}`;
  }

  async write(_manager: EntityManager, artifact: StoredArtifact, content: Buffer): Promise<void> {
    const path = this.pathOf(artifact);
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.${randomUUID()}.tmp`;
    await writeFile(temporary, content, { flush: true });
    await rename(temporary, path);
    const written = sha256Hex(await readFile(path));
    if (written !== artifact.sha256) {
      await rm(path, { force: true });
      throw new ArtifactIntegrityError(`artifact ${artifact.id}: the file written has SHA-256 ${written}, not ${artifact.sha256}`);
    }
  }

  async read(_manager: EntityManager, artifact: StoredArtifact): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(artifact));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        throw new ArtifactIntegrityError(`artifact ${artifact.id}: its file is missing`);
      throw error;
    }
  }

  async remove(artifact: StoredArtifact): Promise<void> {
    await rm(this.pathOf(artifact), { force: true });
  }

  private pathOf(artifact: StoredArtifact): string {
    if (artifact.location === null) throw new ArtifactIntegrityError(`artifact ${artifact.id} has no file location`);
    const path = resolve(this.root, artifact.location);
    // A location is written by locate(); one that leaves the root was not.
    if (!path.startsWith(this.root + '/')) throw new ArtifactIntegrityError(`artifact ${artifact.id}: location outside the store`);
    return path;
  }
}

/**
 * Small blobs in PostgreSQL (`learning.artifact_blobs`, at most 1 MiB each), in
 * the same transaction as the artifact row; the database computes the hash of
 * what it stored.
 */
export class DatabaseArtifactStore implements ArtifactStore {
  readonly storage = 'database' as const;

  locate(): null {
    return null;
  }

  async write(manager: EntityManager, artifact: StoredArtifact, content: Buffer): Promise<void> {
    const [row]: { sha256: string }[] = await manager.query(
      `INSERT INTO learning.artifact_blobs (organization_id, artifact_id, content) VALUES ($1, $2, $3)
       RETURNING encode(sha256(content), 'hex') AS sha256`,
      [artifact.organizationId, artifact.id, content],
    );
    if (row.sha256 !== artifact.sha256) {
      throw new ArtifactIntegrityError(`artifact ${artifact.id}: the blob stored has SHA-256 ${row.sha256}, not ${artifact.sha256}`);
    }
  }

  async read(manager: EntityManager, artifact: StoredArtifact): Promise<Buffer> {
    const [row]: { content: Buffer }[] = await manager.query(
      `SELECT content FROM learning.artifact_blobs WHERE organization_id = $1 AND artifact_id = $2`,
      [artifact.organizationId, artifact.id],
    );
    if (!row) throw new ArtifactIntegrityError(`artifact ${artifact.id}: its blob is missing`);
    return row.content;
  }

  async remove(): Promise<void> {
    // The blob goes with its artifact row (ON DELETE CASCADE).
  }
}
