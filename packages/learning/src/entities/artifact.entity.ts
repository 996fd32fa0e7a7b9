import { Check, Column, Entity, Unique } from 'typeorm';
import { TenantRow } from '@strata/base';

export const ARTIFACT_STORAGES = ['filesystem', 'database'] as const;
export type ArtifactStorage = (typeof ARTIFACT_STORAGES)[number];

/** bigint comes back from `pg` as text; sizes fit a double well past any file. */
export const bigintAsNumber = { to: (value: number) => value, from: (value: string | null) => (value === null ? null : Number(value)) };

/**
 * A stored blob (the seeds' `ml-artifacts` bucket), addressed by the SHA-256 of
 * its content: the same content is stored once per organization. `location` is
 * where a filesystem store keeps it (relative to the store's root); blobs kept
 * in PostgreSQL are in `artifact_blobs`.
 */
@Entity({ schema: 'learning', name: 'artifacts' })
@Unique(['organizationId', 'sha256'])
@Check('artifacts_sha256_check', `"sha256" ~ '^[0-9a-f]{64}$'`)
@Check('artifacts_size_bytes_check', `"size_bytes" >= 0`)
@Check('artifacts_storage_check', `"storage" IN ('filesystem', 'database')`)
@Check('artifacts_location_check', `("storage" = 'filesystem') = ("location" IS NOT NULL)`)
export class Artifact extends TenantRow {
  @Column({ type: 'varchar', length: 64 })
  sha256!: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  sizeBytes!: number;

  @Column({ type: 'varchar', length: 255, default: 'application/octet-stream' })
  mediaType!: string;

  @Column({ type: 'varchar', length: 16 })
  storage!: ArtifactStorage;

  @Column({ type: 'text', nullable: true })
  location!: string | null;

  @Column({ type: 'uuid', nullable: true })
  createdBy!: string | null;
}
