import { Queryable } from '../database';
import { MigrationError } from '../errors';

/** What to tell an operator whose server lacks an extension a module needs. */
const INSTALL_HINTS: Record<string, { label: string; install: string }> = {
  vector: {
    label: 'pgvector',
    install:
      'install pgvector on the server (Debian/Ubuntu: apt install postgresql-<major>-pgvector; ' +
      'Docker: the pgvector/pgvector image; the embedded database has it built in), then migrate again',
  },
};

/**
 * Makes sure this database has `extension`, for a migration that needs it (e.g. `vector` before
 * a vector column). Already there: nothing to do. On the server but not in this database: it is
 * created (IF NOT EXISTS, so modules that share it do not collide). Missing from the server, or
 * not creatable by this role: a MigrationError that says what to do. A `down` leaves the extension
 * in place: other modules' columns may use it, and it lives outside every module's schema.
 */
export async function requireExtension(q: Queryable, extension: string): Promise<void> {
  const [state] = await q.query(
    `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = $1) AS installed,
            EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1) AS available`,
    [extension],
  );
  if (state.installed) return;
  const { label, install } = INSTALL_HINTS[extension] ?? {
    label: `extension "${extension}"`,
    install: 'install it on the server, then migrate again',
  };
  if (!state.available) {
    throw new MigrationError(`${label} is not installed on this server: ${install}`);
  }
  try {
    await q.query(`CREATE EXTENSION IF NOT EXISTS "${extension.replace(/"/g, '""')}"`);
  } catch (err) {
    throw new MigrationError(
      `${label} is installed on this server but this database does not have it, and this role cannot create it ` +
        `(${(err as Error).message}): run CREATE EXTENSION "${extension}" as a superuser, then migrate again`,
      { cause: err },
    );
  }
}
