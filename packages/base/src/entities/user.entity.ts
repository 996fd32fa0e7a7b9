import { Check, Column, Entity } from 'typeorm';
import { CreatedAtColumn, JsonbColumn, UpdatedAtColumn, UuidPrimaryColumn } from '../columns';

/**
 * A person (or agent identity) that can belong to several organizations.
 * Emails are stored lower-case (a CHECK makes sure), so the plain unique
 * constraint is case-insensitive.
 */
@Entity({ schema: 'base', name: 'users' })
@Check('users_email_check', `"email" = lower("email") AND "email" LIKE '%_@_%'`)
export class User {
  @UuidPrimaryColumn()
  id!: string;

  @Column({ type: 'varchar', length: 320, unique: true })
  email!: string;

  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @JsonbColumn()
  preferences!: Record<string, unknown>;

  @CreatedAtColumn()
  createdAt!: Date;

  @UpdatedAtColumn()
  updatedAt!: Date;
}
