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
    const org = await service.create({ name: 'Valid', slug: 'valid' });
    const afterOrg = await counts();
    await expectFields(service.inviteMember(org.id, { email: 'nope', name: 42, role: 'king' } as never), ['email', 'name', 'role']);
    // nobody has this email yet, and there is no name to create the user with: the database says so, typed the same way
    await expectFields(service.inviteMember(org.id, { email: 'new@example.com', role: 'member' }), ['name']);
    expect(await counts()).toEqual(afterOrg);
    expect(Number(afterOrg.orgs)).toBe(Number(before.orgs) + 1);
  });
});
