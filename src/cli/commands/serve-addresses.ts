import type { LocatedConfigFile } from '../../server/config.js';

/** The listeners a started server reports, by API. */
export type ServerAddresses = Partial<Record<'inference' | 'management' | 'metrics' | 'grpc', string>>;

const API_ORDER = ['inference', 'management', 'metrics', 'grpc'] as const;

const SOURCE_NOTE: Record<LocatedConfigFile['source'], string> = {
  TS_CONFIG_FILE: 'from TS_CONFIG_FILE',
  '--ts-config': 'from --ts-config',
  // The reason for printing this at all: a snapshot brings back its addresses and models.
  snapshot: 'the newest snapshot: its addresses, settings and models are restored; --ncs starts without it',
  'config.properties': 'found in the working directory',
};

/**
 * What `kiln serve` prints once the server listens: the config file and why it was read, then
 * one `<api> <address>` line per listener (a script can read them), then the token file.
 * @example startupLines({ inference: 'http://127.0.0.1:8080' }, undefined, undefined)
 * // ['config      none (defaults)', 'inference   http://127.0.0.1:8080']
 */
export function startupLines(addresses: ServerAddresses, file: LocatedConfigFile | undefined, keyFile: string | undefined): string[] {
  const row = (label: string, value: string) => `${label.padEnd(11)} ${value}`;
  return [
    row('config', file ? `${file.path} (${SOURCE_NOTE[file.source]})` : 'none (defaults)'),
    ...API_ORDER.filter((api) => addresses[api] !== undefined).map((api) => row(api, addresses[api]!)),
    ...(keyFile ? [row('tokens', keyFile)] : []),
  ];
}
