import { FieldError } from '@strata/base';
import { WorkflowDefinition } from '../entities';

/**
 * Checks that a workflow definition is a DAG over its own steps: unique step
 * keys, edges that name existing steps, no duplicate edges, no cycle. Returns
 * one error per problem, each naming the field (`definition.edges.3.to`), so a
 * caller can fix them all at once. Empty = a valid DAG.
 */
export function workflowGraphErrors(definition: WorkflowDefinition): FieldError[] {
  const errors: FieldError[] = [];
  const keys = new Set<string>();
  definition.steps.forEach((step, i) => {
    if (keys.has(step.key)) errors.push({ field: `definition.steps.${i}.key`, messages: [`duplicates step "${step.key}"`] });
    keys.add(step.key);
  });

  const seen = new Set<string>();
  const next = new Map<string, string[]>([...keys].map((k) => [k, []]));
  definition.edges.forEach((edge, i) => {
    let known = true;
    for (const end of ['from', 'to'] as const) {
      if (!keys.has(edge[end])) {
        errors.push({ field: `definition.edges.${i}.${end}`, messages: [`names unknown step "${edge[end]}"`] });
        known = false;
      }
    }
    const id = JSON.stringify([edge.from, edge.to]);
    if (seen.has(id)) errors.push({ field: `definition.edges.${i}`, messages: [`duplicates the edge ${edge.from} → ${edge.to}`] });
    seen.add(id);
    if (known) next.get(edge.from)!.push(edge.to);
  });

  const cycle = findCycle(next);
  if (cycle) errors.push({ field: 'definition.edges', messages: [`form a cycle: ${cycle.join(' → ')}`] });
  return errors;
}

/** A cycle as a path that ends where it starts, or undefined. Iterative DFS: deep chains do not overflow the stack. */
function findCycle(next: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  for (const root of next.keys()) {
    if (state.has(root)) continue;
    const path: string[] = [root];
    const cursors: number[] = [0];
    state.set(root, 'open');
    while (path.length > 0) {
      const node = path[path.length - 1];
      const children = next.get(node)!;
      const index = cursors[cursors.length - 1]++;
      if (index >= children.length) {
        state.set(node, 'done');
        path.pop();
        cursors.pop();
        continue;
      }
      const child = children[index];
      if (state.get(child) === 'open') return [...path.slice(path.indexOf(child)), child];
      if (!state.has(child)) {
        state.set(child, 'open');
        path.push(child);
        cursors.push(0);
      }
    }
  }
  return undefined;
}
