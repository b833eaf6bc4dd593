/**
 * The workflow's function node. Each exported function can be a DAG node; like a handler module
 * function it is called once as `fn(null, context)` when its worker loads, then with a batch of
 * requests, each `{body: <the parent node's output bytes>}`.
 */
import type { HandlerContext, RequestInput } from 'kiln/handler';

/** Turns the `tensor` handler's answer for neg (`{outputs: {y}}`) into relu's request (`{inputs: {x}}`). */
export function adapt(data: readonly RequestInput[] | null, _context: HandlerContext): unknown[] | undefined {
  if (!data) return undefined; // the load-time call: nothing to set up
  return data.map((request) => {
    const answer = JSON.parse(new TextDecoder().decode(request['body'] as Uint8Array)) as { outputs: { y: unknown } };
    return { inputs: { x: answer.outputs.y } };
  });
}
