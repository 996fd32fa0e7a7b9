import { IncomingMessage, ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** How the subscriber answers its n-th request (1-based) to a path. */
export type Behaviour = (n: number) => { status: number; headers?: Record<string, string> };

/**
 * A real HTTP subscriber on 127.0.0.1: each path answers as its behaviour
 * says (200 by default) and records every request it got.
 */
export class TestSubscriber {
  readonly received = new Map<string, Received[]>();
  private readonly behaviours = new Map<string, Behaviour>();
  private readonly server = createServer((request, response) => this.answer(request, response));
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  url(path: string, behaviour?: Behaviour): string {
    if (behaviour) this.behaviours.set(path, behaviour);
    return `http://127.0.0.1:${this.port}${path}`;
  }

  requests(path: string): Received[] {
    return this.received.get(path) ?? [];
  }

  private answer(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const list = this.received.get(path) ?? [];
      list.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      this.received.set(path, list);
      const behaviour: Behaviour = this.behaviours.get(path) ?? (() => ({ status: 200 }));
      const { status, headers } = behaviour(list.length);
      response.writeHead(status, headers);
      response.end('ok');
    });
  }
}
