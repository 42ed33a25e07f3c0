// The types memmgr-overview.json is validated against. grafana_validate.js
// turns every type exported here into a JSON Schema with
// ts-json-schema-generator and checks the dashboard with ajv.
//
// Sources (npm @grafana/schema 13.2.3, the package Grafana itself builds its
// dashboards against):
//   dist/types/veneer/dashboard.types.d.ts     Dashboard, Panel, RowPanel: the
//       package's public dashboard model (what `import { Dashboard } from
//       '@grafana/schema'` gives), built on the generated raw types in
//   dist/types/raw/dashboard/x/types.gen.d.ts  (GridPos, VariableModel,
//       DataSourceRef, FieldConfig, ThresholdsConfig, ...), and
//   dist/types/common/common.gen.d.ts          DataQuery (refId) and the
//       option types the panel plugins share (legend, tooltip, ...);
//   dist/types/raw/composable/<plugin>/panelcfg/x/types.gen.d.ts
//       each core panel plugin's Options and FieldConfig (fieldConfig.custom).
// The Prometheus query type is not in @grafana/schema 13 (it moved to
// @grafana/prometheus); PrometheusQuery below restates Grafana's
// packages/grafana-prometheus/src/dataquery.ts on top of the package's own
// DataQuery, without `scope` (a Grafana-Cloud scopes object we never set).
//
// Panel plugin options are Partial<> at the top level: Grafana merges the
// plugin's defaults into a stored panel's options and fieldConfig.custom on
// load, so an option left out is valid JSON for every Grafana version, while
// the 13.2 plugins made several options required that Grafana 10/11 do not
// know (the gauge's barShape, effects, segmentCount, ...). What is given must
// have the right type, and unknown option names are rejected.

import type {
  Dashboard as GrafanaDashboard,
  Panel as GrafanaPanel,
  RowPanel as GrafanaRowPanel,
} from '@grafana/schema/dist/types/veneer/dashboard.types';
import type { DataQuery } from '@grafana/schema/dist/types/common/common.gen';
import type * as timeseries from '@grafana/schema/dist/types/raw/composable/timeseries/panelcfg/x/types.gen';
import type * as stat from '@grafana/schema/dist/types/raw/composable/stat/panelcfg/x/types.gen';
import type * as heatmap from '@grafana/schema/dist/types/raw/composable/heatmap/panelcfg/x/types.gen';
import type * as table from '@grafana/schema/dist/types/raw/composable/table/panelcfg/x/types.gen';
import type * as bargauge from '@grafana/schema/dist/types/raw/composable/bargauge/panelcfg/x/types.gen';

export type Dashboard = GrafanaDashboard;
export type Panel = GrafanaPanel;
export type RowPanel = GrafanaRowPanel;

export interface PrometheusQuery extends DataQuery {
  /** "code" or "builder" */
  editorMode?: 'code' | 'builder';
  /** also query exemplars */
  exemplar?: boolean;
  /** the PromQL expression */
  expr: string;
  /** how the panel reads the result */
  format?: 'time_series' | 'table' | 'heatmap';
  /** only the latest value */
  instant?: boolean;
  /** @deprecated */
  intervalFactor?: number;
  /** minimum step of this query, e.g. "30s" (PromQuery.interval) */
  interval?: string;
  /** series name template, e.g. {{pod}} */
  legendFormat?: string;
  /** a range query */
  range?: boolean;
}

export type TimeseriesOptions = Partial<timeseries.Options>;
export type TimeseriesFieldConfig = Partial<timeseries.FieldConfig>;
export type StatOptions = Partial<stat.Options>;
export type HeatmapOptions = Partial<heatmap.Options>;
export type HeatmapFieldConfig = Partial<heatmap.FieldConfig>;
export type TableOptions = Partial<table.Options>;
export type TableFieldConfig = Partial<table.FieldConfig>;
export type BargaugeOptions = Partial<bargauge.Options>;
