/**
 * The request bodies `kiln bench --url` sends: request files (`--input`, files or folders), or
 * for OIP inputs generated from the model's metadata (seeded, the shapes it declares), as OIP
 * JSON or with the binary tensor extension.
 */
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { KilnError } from '../../core/errors.js';
import { readError, readFileChecked } from '../../core/fs.js';
import { makeFeeds, type TensorSignature } from '../../runtime/feeds.js';
import type { HostTensor } from '../../runtime/tensors.js';
import { dataToBytes, dataToJson, hostTypeOf, isOipDatatype, stringsToBytes, type OipDatatype } from '../../server/oip/datatypes.js';
import type { BenchRequest } from './bench-url-load.js';

/** Content types by file extension; anything else is sent as application/octet-stream. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.json': 'application/json',
  '.txt': 'text/plain',
  '.npy': 'application/octet-stream',
};

/** The content type a request file is sent with. */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** `--input` paths expanded: a folder gives its regular, non-hidden files in name order. */
export function listInputFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const path of paths) {
    let stat;
    try {
      stat = statSync(path);
    } catch (error) {
      throw readError(path, 'the request file', error);
    }
    if (!stat.isDirectory()) {
      files.push(path);
      continue;
    }
    const inside = readdirSync(path)
      .filter((name) => !name.startsWith('.'))
      .sort()
      .map((name) => join(path, name))
      .filter((file) => statSync(file).isFile());
    if (inside.length === 0) throw new KilnError('KILN_CLI_USAGE', `--input ${path}: the folder has no files to send`);
    files.push(...inside);
  }
  return files;
}

/** One request per file, with `contentType` or the file's own type. */
export function fileRequests(files: readonly string[], contentType: string | undefined, headers: Readonly<Record<string, string>>): BenchRequest[] {
  return files.map((file) => ({
    headers: { ...headers, 'Content-Type': contentType ?? contentTypeOf(file) },
    body: readFileChecked(file, 'the request file'),
  }));
}

/** One tensor of an OIP model metadata document. */
export interface OipTensorMetadata {
  readonly name: string;
  readonly datatype: OipDatatype;
  /** -1 for a variable dimension. */
  readonly shape: readonly number[];
}

/**
 * The `inputs` of an OIP model metadata document, checked.
 * @throws KilnError `KILN_CLI_BENCH_REQUEST_REJECTED` when the document is not OIP metadata.
 */
export function metadataInputs(document: unknown, where: string): OipTensorMetadata[] {
  const inputs = (document as { inputs?: unknown } | null)?.inputs;
  const valid =
    Array.isArray(inputs) &&
    inputs.length > 0 &&
    inputs.every(
      (input: { name?: unknown; datatype?: unknown; shape?: unknown }) =>
        typeof input?.name === 'string' && isOipDatatype(input.datatype) && Array.isArray(input.shape) && input.shape.every((dim) => Number.isInteger(dim)),
    );
  if (!valid) {
    throw new KilnError('KILN_CLI_BENCH_REQUEST_REJECTED', `${where} is not OIP model metadata with inputs ({name, datatype, shape}); send request files with --input instead`);
  }
  return inputs as OipTensorMetadata[];
}

/** How {@link generatedOipRequest} fills in the shapes and values. */
export interface GenerateOptions {
  readonly dims: Readonly<Record<string, number>>;
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  readonly seed: number;
  /** Send the tensors with the binary extension (and ask for binary outputs). */
  readonly binary: boolean;
  readonly label: string;
}

/**
 * One OIP infer request of seeded random tensors of the declared shapes and datatypes; a
 * variable dim (-1) takes its value from `--shape NAME=…` or `--dim '*=N'`.
 */
export function generatedOipRequest(inputs: readonly OipTensorMetadata[], options: GenerateOptions, headers: Readonly<Record<string, string>>): BenchRequest & { readonly shapes: Readonly<Record<string, readonly number[]>> } {
  const signatures: TensorSignature[] = inputs.map((input) => ({
    name: input.name,
    type: hostTypeOf(input.datatype),
    shape: input.shape.map((dim) => (dim < 0 ? undefined : dim)),
  }));
  const feeds = makeFeeds(signatures, { dims: options.dims, shapes: options.shapes, seed: options.seed, label: options.label });
  const shapes = Object.fromEntries(Object.entries(feeds).map(([name, feed]) => [name, feed.dims]));
  if (!options.binary) {
    const body = {
      inputs: inputs.map((input) => {
        const feed = feeds[input.name]!;
        return { name: input.name, shape: feed.dims, datatype: input.datatype, data: dataToJson(input.datatype, feed.data, input.name) };
      }),
    };
    return { headers: { ...headers, 'Content-Type': 'application/json' }, body: Buffer.from(JSON.stringify(body)), shapes };
  }
  const parts = inputs.map((input) => tensorBytes(input.datatype, feeds[input.name]!));
  const header = Buffer.from(
    JSON.stringify({
      inputs: inputs.map((input, index) => ({ name: input.name, shape: feeds[input.name]!.dims, datatype: input.datatype, parameters: { binary_data_size: parts[index]!.length } })),
      parameters: { binary_data_output: true },
    }),
  );
  return {
    headers: { ...headers, 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
    body: Buffer.concat([header, ...parts]),
    shapes,
  };
}

function tensorBytes(datatype: OipDatatype, feed: HostTensor): Uint8Array {
  if (datatype === 'BYTES') return stringsToBytes(feed.data as string[]);
  return dataToBytes(feed.data as Parameters<typeof dataToBytes>[0]);
}

/** True for a body that is an OIP JSON infer response (an `outputs` array). */
export function isOipJsonResponse(body: string): boolean {
  try {
    return Array.isArray((JSON.parse(body) as { outputs?: unknown }).outputs);
  } catch {
    return false;
  }
}
