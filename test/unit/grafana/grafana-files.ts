// Reads config/grafana/ (provisioning YAML, one JSON per dashboard) and lists every InfluxQL query a dashboard
// makes: panel targets, annotation queries and template-variable queries. Shared by the unit checks and the
// integration test that runs each query against a real influxd.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export const GRAFANA_DIR = path.resolve('config/grafana');
export const DASHBOARDS_DIR = path.join(GRAFANA_DIR, 'dashboards');
export const DATASOURCE_FILE = path.join(GRAFANA_DIR, 'provisioning/datasources/influxdb.yaml');
export const PROVIDER_FILE = path.join(GRAFANA_DIR, 'provisioning/dashboards/binbridge.yaml');

export interface DatasourceRef {
  type?: string;
  uid?: string;
}

export interface Target {
  refId?: string;
  datasource?: DatasourceRef;
  rawQuery?: boolean;
  query?: string;
  resultFormat?: string;
}

export interface Panel {
  id?: number;
  type: string;
  title?: string;
  description?: string;
  datasource?: DatasourceRef;
  targets?: Target[];
  panels?: Panel[];
}

export interface Annotation {
  builtIn?: number;
  name?: string;
  datasource?: DatasourceRef;
  query?: string;
  target?: Target;
}

export interface Variable {
  name: string;
  type: string;
  datasource?: DatasourceRef;
  query?: string | { query?: string };
}

export interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  panels?: Panel[];
  annotations?: { list?: Annotation[] };
  templating?: { list?: Variable[] };
}

export interface DashboardFile {
  file: string;
  dashboard: Dashboard;
}

export function readYaml(file: string): unknown {
  return parse(fs.readFileSync(file, 'utf8'));
}

export function dashboardFiles(): DashboardFile[] {
  return fs
    .readdirSync(DASHBOARDS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: f, dashboard: JSON.parse(fs.readFileSync(path.join(DASHBOARDS_DIR, f), 'utf8')) as Dashboard }));
}

/** Every panel, rows' nested panels included. */
export function allPanels(d: Dashboard): Panel[] {
  const out: Panel[] = [];
  const walk = (panels: Panel[] | undefined): void => {
    for (const p of panels ?? []) {
      out.push(p);
      walk(p.panels);
    }
  };
  walk(d.panels);
  return out;
}

export interface DashboardQuery {
  dashboard: string;
  /** panel title, `annotation <name>` or `variable <name>` */
  source: string;
  refId: string;
  query: string;
}

/** Every InfluxQL query of a dashboard, as Grafana would send it before substituting macros and variables. */
export function queriesOf({ file, dashboard: d }: DashboardFile): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const p of allPanels(d)) {
    for (const t of p.targets ?? []) out.push({ dashboard: file, source: `panel "${p.title ?? p.id}"`, refId: t.refId ?? '?', query: t.query ?? '' });
  }
  for (const a of d.annotations?.list ?? []) {
    if (a.builtIn) continue;
    out.push({ dashboard: file, source: `annotation "${a.name}"`, refId: a.target?.refId ?? 'Anno', query: a.target?.query ?? a.query ?? '' });
  }
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    out.push({ dashboard: file, source: `variable "${v.name}"`, refId: v.name, query: typeof v.query === 'string' ? v.query : (v.query?.query ?? '') });
  }
  return out;
}

/** Every `datasource` reference anywhere in a dashboard (panels, targets, annotations, variables), with its path. */
export function datasourceRefs(value: unknown, at = '$'): { at: string; ref: unknown }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => datasourceRefs(v, `${at}[${i}]`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) =>
    k === 'datasource' ? [{ at: `${at}.${k}`, ref: v }, ...datasourceRefs(v, `${at}.${k}`)] : datasourceRefs(v, `${at}.${k}`),
  );
}
