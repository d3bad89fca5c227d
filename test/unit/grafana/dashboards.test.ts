// Grafana as code: the provisioning files parse, the dashboards are valid JSON with fixed unique uids, and
// every query goes to the provisioned InfluxDB datasource in raw InfluxQL.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DASHBOARDS_DIR,
  DATASOURCE_FILE,
  PROVIDER_FILE,
  allPanels,
  dashboardFiles,
  datasourceRefs,
  queriesOf,
  readYaml,
} from './grafana-files.js';

interface DatasourceProvisioning {
  apiVersion: number;
  datasources: { uid: string; type: string; url: string; jsonData: Record<string, unknown>; secureJsonData?: Record<string, unknown> }[];
}
interface ProviderProvisioning {
  apiVersion: number;
  providers: { name: string; type: string; folder?: string; folderUid?: string; options: { path: string } }[];
}

const datasources = readYaml(DATASOURCE_FILE) as DatasourceProvisioning;
const providers = readYaml(PROVIDER_FILE) as ProviderProvisioning;
const files = dashboardFiles();
const DS_UID = datasources.datasources[0]!.uid;

describe('Grafana provisioning', () => {
  it('provisions one InfluxQL datasource with a fixed uid, configured from the environment', () => {
    expect(datasources.apiVersion).toBe(1);
    expect(datasources.datasources).toHaveLength(1);
    const ds = datasources.datasources[0]!;
    expect(ds).toMatchObject({ uid: 'binbridge-influx', type: 'influxdb', url: '${INFLUX_URL}' });
    expect(ds.jsonData).toMatchObject({ version: 'InfluxQL', dbName: '${INFLUX_DB}', httpHeaderName1: 'Authorization' });
    expect(ds.secureJsonData?.httpHeaderValue1).toBe('Token ${INFLUX_TOKEN}');
  });

  it('provisions the dashboards from files into a folder with a fixed uid', () => {
    expect(providers.apiVersion).toBe(1);
    expect(providers.providers).toHaveLength(1);
    expect(providers.providers[0]).toMatchObject({ type: 'file', folderUid: 'binbridge', options: { path: '/var/lib/grafana/dashboards' } });
  });
});

describe('Grafana dashboards', () => {
  it('has at least six dashboards, every file valid JSON', () => {
    const names = fs.readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json'));
    expect(names.length).toBeGreaterThanOrEqual(6);
    for (const f of names) expect(() => JSON.parse(fs.readFileSync(path.join(DASHBOARDS_DIR, f), 'utf8')), f).not.toThrow();
    expect(files.map((f) => f.dashboard.uid).sort()).toEqual(
      ['binbridge-bin', 'binbridge-city', 'binbridge-dispatch', 'binbridge-notices', 'binbridge-reports', 'binbridge-whatsapp'].sort(),
    );
  });

  it('gives every dashboard a fixed, unique uid, a title and a current schema version', () => {
    const uids = files.map((f) => f.dashboard.uid);
    for (const { file, dashboard } of files) {
      expect(dashboard.uid, file).toMatch(/^[a-z0-9-]{1,40}$/);
      expect(dashboard.title, file).toBeTruthy();
      expect(dashboard.schemaVersion, file).toBeGreaterThanOrEqual(39);
      expect((dashboard as { id?: unknown }).id ?? null, `${file}: no instance id in a provisioned file`).toBeNull();
    }
    expect(new Set(uids).size).toBe(uids.length);
  });

  it('gives every panel a unique id, a title and a description', () => {
    for (const { file, dashboard } of files) {
      const panels = allPanels(dashboard);
      expect(panels.length, file).toBeGreaterThan(0);
      const ids = panels.map((p) => p.id);
      expect(new Set(ids).size, `${file}: panel ids`).toBe(ids.length);
      for (const p of panels) {
        expect(p.title, `${file} panel ${p.id}`).toBeTruthy();
        expect(p.description?.length ?? 0, `${file} "${p.title}" needs a description`).toBeGreaterThan(10);
      }
    }
  });

  it('points every datasource reference at the provisioned InfluxDB datasource', () => {
    for (const { file, dashboard } of files) {
      const refs = datasourceRefs(dashboard).filter(({ ref }) => (ref as { type?: string }).type !== 'grafana');
      expect(refs.length, file).toBeGreaterThan(0);
      for (const { at, ref } of refs) expect(ref, `${file} ${at}`).toEqual({ type: 'influxdb', uid: DS_UID });
      for (const p of allPanels(dashboard)) {
        if (!p.targets?.length) continue;
        expect(p.datasource, `${file} "${p.title}"`).toEqual({ type: 'influxdb', uid: DS_UID });
      }
    }
  });

  it('uses raw InfluxQL with the time filter in every panel query', () => {
    for (const { file, dashboard } of files) {
      for (const p of allPanels(dashboard)) {
        for (const t of p.targets ?? []) {
          const where = `${file} "${p.title}" ${t.refId}`;
          expect(t.rawQuery, where).toBe(true);
          expect(t.query, where).toMatch(/^SELECT /);
          expect(t.query, where).toContain('$timeFilter');
          // the 1.x, 2.x (DBRP) and 3.x InfluxQL endpoints all take plain SELECTs on one database
          expect(t.query, where).not.toMatch(/\bINTO\b|;|"binbridge"\./i);
        }
      }
    }
  });

  it('lists the annotation and template-variable queries with the panels', () => {
    const detail = files.find((f) => f.dashboard.uid === 'binbridge-bin')!;
    const sources = queriesOf(detail).map((q) => q.source);
    expect(sources).toContain('annotation "Events"');
    expect(sources).toContain('variable "bin"');
    for (const q of files.flatMap(queriesOf)) expect(q.query, `${q.dashboard} ${q.source}`).not.toBe('');
  });
});
