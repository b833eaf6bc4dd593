/**
 * The soak's load: {@link CLIENTS} keep-alive clients PUT one PNG back to back until the
 * deadline; every answer is judged (a 200 with both labels, else an error) and lands in the
 * bucket of the minute it was sent in.
 */
import http from 'node:http';

/** One minute's figures. */
export interface Bucket {
  ok: number;
  errors: number;
  readonly latencies: number[];
  /** Up to three examples of what went wrong, for the report. */
  readonly samples: string[];
}

export interface ClientLoad {
  readonly url: URL;
  readonly body: Buffer;
  readonly clients: number;
  readonly ms: number;
  readonly bucketMs: number;
  readonly timeoutMs: number;
  valid(text: string): boolean;
}

function put(agent: http.Agent, load: ClientLoad): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(load.url, { method: 'PUT', agent, timeout: load.timeoutMs, headers: { 'content-type': 'image/png', 'content-length': load.body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${load.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(load.body);
  });
}

/** Runs the clients; `bucket(i)` is the i-th bucket (created by the caller, e.g. on a timer). */
export async function runClients(load: ClientLoad, bucket: (index: number) => Bucket): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: load.clients });
  const start = performance.now();
  const deadline = start + load.ms;
  const client = async () => {
    while (performance.now() < deadline) {
      const sent = performance.now();
      const into = bucket(Math.floor((sent - start) / load.bucketMs));
      try {
        const reply = await put(agent, load);
        into.latencies.push(performance.now() - sent);
        if (reply.status === 200 && load.valid(reply.text)) into.ok++;
        else fail(into, `${reply.status} ${reply.text.slice(0, 120)}`);
      } catch (error) {
        fail(into, (error as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: load.clients }, client));
  agent.destroy();
}

function fail(bucket: Bucket, what: string): void {
  bucket.errors++;
  if (bucket.samples.length < 3) bucket.samples.push(what);
}
