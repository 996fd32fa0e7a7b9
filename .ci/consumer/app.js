// CI fixture: what a team's application does with @strata/tasks installed from packed tarballs
// (consumer-test.sh). DATABASE_URL is a server migrated with the package's own CLI.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  ConfigurationError,
  OrganizationsService,
  baseModule,
  createDataSource,
  openDatabase,
  resolveDatabaseTarget,
} = require('@strata/base');
const { TasksService, WorkQueueService, tasksModule } = require('@strata/tasks');

/** Every source map in an installed package points at files the package ships. */
function checkSourceMaps(packageDir) {
  const maps = fs.readdirSync(path.join(packageDir, 'dist'), { recursive: true }).filter((file) => file.endsWith('.map'));
  assert.ok(maps.length > 0, `${packageDir} ships no source maps`);
  for (const map of maps) {
    const file = path.join(packageDir, 'dist', map);
    for (const source of JSON.parse(fs.readFileSync(file, 'utf8')).sources) {
      assert.ok(fs.existsSync(path.resolve(path.dirname(file), source)), `${file} points at ${source}, which is not in the package`);
    }
  }
  return maps.length;
}

/** Nothing a consumer gets from a package refers to the test-only @strata/testing. */
function checkNoTestingReference(packageDir) {
  const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
    assert.ok(!manifest[field]?.['@strata/testing'], `${manifest.name} has @strata/testing in ${field}`);
  }
  for (const file of fs.readdirSync(path.join(packageDir, 'dist'), { recursive: true })) {
    if (!/\.(js|d\.ts)$/.test(file)) continue;
    assert.ok(
      !fs.readFileSync(path.join(packageDir, 'dist', file), 'utf8').includes('@strata/testing'),
      `${manifest.name}/dist/${file} refers to @strata/testing`,
    );
  }
}

async function main() {
  const installed = (name) => path.dirname(require.resolve(`${name}/package.json`));
  // One typeorm and one pg, the application's: the packages take them as peers.
  for (const peer of ['typeorm', 'pg']) {
    for (const pkg of ['@strata/base', '@strata/tasks']) {
      assert.equal(require.resolve(peer, { paths: [installed(pkg)] }), require.resolve(peer), `${pkg} resolves its own copy of ${peer}`);
    }
  }
  const maps = checkSourceMaps(installed('@strata/base')) + checkSourceMaps(installed('@strata/tasks'));
  checkNoTestingReference(installed('@strata/base'));
  checkNoTestingReference(installed('@strata/tasks'));

  // PGlite is not installed here: asking for the embedded database says how to get it.
  await assert.rejects(openDatabase({ kind: 'embedded', dataDir: 'memory://' }), (error) => {
    assert.ok(error instanceof ConfigurationError, `expected a ConfigurationError, got ${error}`);
    assert.match(error.message, /npm install @electric-sql\/pglite@/);
    return true;
  });

  const database = await openDatabase(resolveDatabaseTarget());
  assert.equal(database.kind, 'server');
  const dataSource = await createDataSource({ url: database.url, modules: [baseModule, tasksModule] }).initialize();
  try {
    const org = await new OrganizationsService(dataSource).create({ name: 'Consumer', slug: 'consumer' });
    const tasks = new TasksService(dataSource);
    const queue = new WorkQueueService(dataSource);
    const enqueued = await tasks.enqueue(org.id, { title: 'build', idempotencyKey: 'build-1' });
    const [claimed] = await queue.claim(org.id, { workerId: 'consumer-worker', count: 1, leaseSeconds: 60 });
    assert.equal(claimed?.id, enqueued.id);
    const done = await queue.complete(org.id, claimed.id, { workerId: 'consumer-worker', output: { ok: true } });
    assert.equal(done.status, 'succeeded');
    assert.deepEqual((await tasks.get(org.id, enqueued.id)).output, { ok: true });
    assert.ok(!Object.keys(require.cache).some((file) => file.includes(`${path.sep}@electric-sql${path.sep}`)), 'PGlite was loaded');
    console.log(`consumer: enqueued, claimed and completed task ${done.id}; ${maps} source maps resolve; one typeorm and one pg`);
  } finally {
    await dataSource.destroy();
    await database.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
