import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { closest } from '../suggest.js';
import { configSchema, type Config } from './schema.js';

export const ENV_PREFIX = 'BINBRIDGE_';
export const DEFAULT_CONFIG_FILE = 'config/binbridge.yaml';

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: Config;
  file: string | null;
  /** Things that did not stop start-up but that an operator should see (unknown BINBRIDGE_* variables). */
  warnings: string[];
}

type Leaf = 'number' | 'boolean' | 'string';
interface SchemaNode {
  leaf?: Leaf;
  children?: Map<string, SchemaNode>;
  /** a list's items */
  element?: SchemaNode;
}

/** Unwraps defaults and optionals down to the schema that says what a value is. */
function core(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const def = (s as unknown as { _zod: { def: { type: string; innerType?: z.ZodType } } })._zod.def;
    if (def.innerType && ['default', 'prefault', 'optional', 'nullable'].includes(def.type)) s = def.innerType;
    else return s;
  }
}

function describe(schema: z.ZodType): SchemaNode {
  const s = core(schema);
  if (s instanceof z.ZodObject) {
    const children = new Map<string, SchemaNode>();
    for (const [k, v] of Object.entries(s.shape)) children.set(k, describe(v as z.ZodType));
    return { children };
  }
  if (s instanceof z.ZodNumber) return { leaf: 'number' };
  if (s instanceof z.ZodBoolean) return { leaf: 'boolean' };
  if (s instanceof z.ZodArray) return { element: describe(s.element as z.ZodType) };
  return { leaf: 'string' };
}

const tree = describe(configSchema);

/** Every scalar key and the environment variable that overrides it, e.g. mqtt.port -> BINBRIDGE_MQTT_PORT. */
export function envVariables(): Map<string, { path: string[]; leaf: Leaf }> {
  const out = new Map<string, { path: string[]; leaf: Leaf }>();
  const walk = (node: SchemaNode, at: string[]): void => {
    if (node.leaf) out.set(ENV_PREFIX + at.join('_').toUpperCase(), { path: at, leaf: node.leaf });
    for (const [k, child] of node.children ?? []) walk(child, [...at, k]);
  };
  walk(tree, []);
  return out;
}

function coerce(raw: string, leaf: Leaf): unknown {
  if (leaf === 'number') return raw.trim() === '' ? raw : Number.isNaN(Number(raw)) ? raw : Number(raw);
  if (leaf === 'boolean') return { true: true, '1': true, yes: true, false: false, '0': false, no: false }[raw.toLowerCase()] ?? raw;
  return raw;
}

function setPath(obj: Record<string, unknown>, at: string[], value: unknown): void {
  let o = obj;
  for (const k of at.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null || Array.isArray(o[k])) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[at[at.length - 1]!] = value;
}

/** The schema node at a path of the raw value (list indices step into the list's items). */
function nodeAt(at: PropertyKey[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = tree;
  for (const k of at) node = typeof k === 'number' ? node?.element : node?.children?.get(String(k));
  return node;
}

function unknownKeyProblem(at: PropertyKey[], key: string, source: string): { text: string; meant?: string } {
  const known = [...(nodeAt(at)?.children?.keys() ?? [])];
  const near = closest(key, known);
  const hint = near !== undefined ? `did you mean ${near}?` : `known keys: ${known.join(', ')}`;
  return { text: `${[...at, key].join('.')}: unknown key; ${hint} (from ${source})`, ...(near !== undefined ? { meant: [...at, near].join('.') } : {}) };
}

function expected(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}`;
    case 'too_small':
      return `expected ${issue.origin === 'string' ? 'at least ' + String(issue.minimum) + ' characters' : 'a value >= ' + String(issue.minimum)}`;
    case 'too_big':
      return `expected ${issue.origin === 'string' ? 'at most ' + String(issue.maximum) + ' characters' : 'a value <= ' + String(issue.maximum)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_format':
      return `expected ${issue.format === 'regex' ? issue.message : 'a valid ' + issue.format}`;
    default:
      return issue.message;
  }
}

/** Settings whose value may carry a password: an error shows them without it. */
const SECRET_KEYS = new Set(['store.url']);

/** The value with a URL's password replaced by ***; a value that is no URL is not shown at all. */
function hidePassword(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    for (const key of [...url.searchParams.keys()]) if (/pass|secret|key/i.test(key)) url.searchParams.set(key, '***');
    return url.toString();
  } catch {
    return `(not shown: ${value.length} characters)`;
  }
}

function valueAt(obj: unknown, at: PropertyKey[]): unknown {
  return at.reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<PropertyKey, unknown>)[k] : undefined), obj);
}

/**
 * Reads the YAML file (when there is one), applies BINBRIDGE_* overrides and validates the result.
 * Throws ConfigError whose problems each name the key, the expected form and where the value came from.
 */
export function loadConfig(opts: { file?: string | undefined; env?: NodeJS.ProcessEnv; cwd?: string } = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const explicit = opts.file ?? env[ENV_PREFIX + 'CONFIG'];
  const file = explicit ? path.resolve(cwd, explicit) : path.resolve(cwd, DEFAULT_CONFIG_FILE);
  let raw: Record<string, unknown> = {};
  let used: string | null = null;
  if (fs.existsSync(file)) {
    let parsed: unknown;
    try {
      parsed = parseYaml(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`, [(err as Error).message]);
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new ConfigError(`config file ${file} must hold a YAML mapping`, ['top level: expected a mapping']);
    }
    raw = (parsed ?? {}) as Record<string, unknown>;
    used = file;
  } else if (explicit) {
    throw new ConfigError(`config file ${file} does not exist`, [`${file}: no such file`]);
  }

  // Unknown variables warn rather than stop: deployment tools set BINBRIDGE_-prefixed variables of their own.
  const warnings: string[] = [];
  const fromEnv = new Map<string, string>();
  const vars = envVariables();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined || name === ENV_PREFIX + 'CONFIG') continue;
    const known = vars.get(name);
    if (!known) {
      const near = closest(name, vars.keys());
      warnings.push(`unknown environment variable ${name} (ignored${near ? `); did you mean ${near}?` : '; `binbridge config env` lists the known ones)'}`);
      continue;
    }
    setPath(raw, known.path, coerce(value, known.leaf));
    fromEnv.set(known.path.join('.'), name);
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const rel = used ? path.relative(cwd, used) : '';
    const fileName = !used ? 'defaults' : rel && !rel.startsWith('..') ? rel : used;
    const unknown = result.error.issues.flatMap((issue) => (issue.code === 'unrecognized_keys' ? issue.keys.map((k) => unknownKeyProblem(issue.path, k, fileName)) : []));
    // a required key reported missing next to its misspelling: the "did you mean" says it all
    const meant = new Set(unknown.map((u) => u.meant));
    const problems = result.error.issues.flatMap((issue) => {
      const key = issue.path.join('.') || '(top level)';
      if (issue.code === 'unrecognized_keys') return [];
      const got = valueAt(raw, issue.path);
      if (got === undefined && meant.has(key)) return [];
      const source = fromEnv.get(key) ?? fileName;
      if (issue.code === 'custom' && issue.params?.plain) return [`${key}: ${issue.message} (from ${source})`];
      const shown = got === undefined ? 'nothing' : JSON.stringify(SECRET_KEYS.has(key) ? hidePassword(got) : got);
      return [`${key}: ${expected(issue)}, got ${shown} (from ${source})`];
    });
    // unknown keys come from the file: variables that name no key never reach the schema
    problems.push(...unknown.map((u) => u.text));
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`, problems);
  }
  const config = result.data;
  config.data_dir = path.resolve(cwd, config.data_dir);
  return { config, file: used, warnings };
}
