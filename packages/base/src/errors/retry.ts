import { setTimeout as sleep } from 'node:timers/promises';
import { sqlStateOf } from './database-errors';
import { TransactionConflictError } from './errors';

/** serialization_failure and deadlock_detected: the two failures that running the transaction again can cure. */
const RETRYABLE = new Set(['40001', '40P01']);

export interface RetryOptions {
  /** Runs in all, the first included. Default 5. */
  attempts?: number;
  /** The backoff before the first retry, doubled for each further one. Default 10 ms. */
  baseDelayMs?: number;
  /** The backoff never grows past this. Default 500 ms. */
  maxDelayMs?: number;
}

/** A serialization failure or deadlock, raw from the driver or already translated (`TransactionConflictError`). */
export function isTransactionConflict(error: unknown): boolean {
  return error instanceof TransactionConflictError || RETRYABLE.has(sqlStateOf(error) ?? '');
}

/**
 * Runs `work` (a whole transaction: it must open and commit its own) and runs
 * it again when it fails with a serialization failure or a deadlock, up to
 * `attempts` runs, waiting a random time below an exponentially growing bound
 * between runs ("full jitter": two sessions that collided do not collide again
 * in step). Any other error, and the last conflict, is thrown as it is.
 * Only a transaction can be retried, never a statement inside one: PostgreSQL
 * has aborted the transaction the conflict happened in.
 */
export async function retryOnConflict<T>(work: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { attempts = 5, baseDelayMs = 10, maxDelayMs = 500 } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isTransactionConflict(error)) throw error;
      await sleep(Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)));
    }
  }
}
