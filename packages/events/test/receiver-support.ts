import { connect } from 'node:net';

export interface Response {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** POSTs to the receiver over loopback. */
export async function post(port: number, path: string, body: Buffer | string, headers: Record<string, string>): Promise<Response> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: response.headers };
}

/**
 * Writes a request by hand on a socket (to send a Content-Length that the
 * body does not match, or no body at all) and resolves with the status line's
 * code and the response body, or null when the server closed without answering.
 */
export function rawRequest(port: number, head: string, body = '', endWrite = false): Promise<{ status: number; body: string } | null> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('connect', () => {
      socket.write(`${head}\r\n\r\n${body}`);
      if (endWrite) socket.end();
    });
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve(match ? { status: Number(match[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) } : null);
    });
  });
}

/** The same bytes with the one in the middle changed. */
export function oneByteChanged(body: Buffer): Buffer {
  const changed = Buffer.from(body);
  const i = Math.floor(changed.length / 2);
  changed[i] = changed[i] === 0x20 ? 0x21 : 0x20;
  return changed;
}
