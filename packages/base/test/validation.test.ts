import { useTestDatabase } from '@strata/testing';
import { OrganizationsService, ValidationError, baseModule } from '../src';

describe('validation', () => {
  const db = useTestDatabase({ modules: [baseModule] });
  const counts = async () =>
    (
      await db.query(`SELECT (SELECT count(*) FROM base.organizations) AS orgs, (SELECT count(*) FROM base.users) AS users,
                            (SELECT count(*) FROM base.organization_memberships) AS members`)
    )[0];

  const expectFields = async (promise: Promise<unknown>, fields: string[]) => {
    const error = await promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields.sort()).toEqual(fields.sort());
    expect((error as ValidationError).message).toContain(fields[0]);
  };

  it('every bad field is named, and nothing is written', async () => {
    const service = new OrganizationsService(db.dataSource);
    const before = await counts();
    await expectFields(service.create({ name: '', slug: 'Not A Slug' }), ['name', 'slug']);
    await expectFields(service.create({ name: 'x', slug: 'ok', settings: 'no' } as never), ['settings']);
    await expectFields(service.create({ name: 'x', slug: 'ok', colour: 'red' } as never), ['colour']);
    await expectFields(service.create(null as never), ['(input)']);
    await expectFields(service.createUser({ email: 'nope', name: 42 } as never), ['email', 'name']);
    const org = await service.create({ name: 'Valid', slug: 'valid' });
    const afterOrg = await counts();
    await expectFields(service.addMember(org.id, { userId: 'x', role: 'king' } as never), ['userId', 'role']);
    // a well-formed but unknown user: the database refuses the reference, typed the same way
    await expectFields(service.addMember(org.id, { userId: '00000000-0000-4000-8000-000000000000', role: 'member' }), ['userId']);
    expect(await counts()).toEqual(afterOrg);
    expect(Number(afterOrg.orgs)).toBe(Number(before.orgs) + 1);
  });
});
