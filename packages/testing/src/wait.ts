import { setTimeout as pause } from 'node:timers/promises';

/**
 * Resolves once `condition` holds, checking it again after each short pause. It has no deadline
 * of its own: the test's timeout bounds it, so a slow machine waits longer instead of failing,
 * and what follows is asserted only once the condition really holds.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, pauseMs = 5): Promise<void> {
  while (!(await condition())) await pause(pauseMs);
}
