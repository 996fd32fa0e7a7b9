import { useTestDatabase } from '@strata/testing';
import { installedModules } from '../src/modules';

/**
 * The inventory of record: every SECURITY DEFINER function of the composed platform,
 * and whether the application role may execute it. Each is tested as strata_app in
 * its module's security test (packages/base/test/security.test.ts,
 * packages/tasks/test/security.test.ts). A module that adds one fails here until it
 * is listed, guarded (tenant check, pinned search_path, EXECUTE not left to PUBLIC)
 * and tested.
 */
const SECURITY_DEFINER_FUNCTIONS: Record<string, { strataApp: boolean }> = {
  'base.analyze_if_grown()': { strataApp: false },
  'base.create_partitions(text)': { strataApp: false },
  'base.invite_member(text,text,text)': { strataApp: true },
  'base.register_partitioned_table(text,text,text,integer,interval,text)': { strataApp: false },
  'base.run_maintenance(text)': { strataApp: false },
  'base.unregister_partitioned_table(text)': { strataApp: false },
  'base.update_own_profile(text,jsonb)': { strataApp: true },
  'tasks.refuse_dependency_cycles()': { strataApp: false },
};

describe('SECURITY DEFINER functions of the composed platform', () => {
  const db = useTestDatabase({ modules: installedModules });

  it('are exactly the inventory: each pins search_path, none is executable by PUBLIC, strata_app runs only the tenant paths', async () => {
    const rows = await db.query<{ fn: string; app: boolean; public_exec: boolean; pinned: boolean }>(
      `SELECT p.pronamespace::regnamespace::text || '.' || p.proname || '(' ||
                coalesce((SELECT string_agg(format_type(t, NULL), ',' ORDER BY i) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i)), '') || ')' AS fn,
              has_function_privilege('strata_app', p.oid, 'EXECUTE') AS app,
              coalesce(EXISTS (SELECT 1 FROM aclexplode(p.proacl) x WHERE x.grantee = 0), true) AS public_exec,
              'search_path=pg_catalog, pg_temp' = ANY (p.proconfig) AS pinned
         FROM pg_proc p
        WHERE p.prosecdef AND p.pronamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema')`,
    );
    expect(rows.sort((x, y) => x.fn.localeCompare(y.fn))).toEqual(
      Object.entries(SECURITY_DEFINER_FUNCTIONS)
        .map(([fn, { strataApp }]) => ({ fn, app: strataApp, public_exec: false, pinned: true }))
        .sort((x, y) => x.fn.localeCompare(y.fn)),
    );
  });
});
