import { defineModule } from '@strata/base';
import {
  AnalysisRun,
  AnalysisRunMetric,
  MetricPoint,
  MetricRollupDaily,
  MetricRollupHourly,
  RollupDelta,
  RollupWatermark,
} from './entities';
import { CreateAnalyticsSchema1796330000000 } from './migrations/1796330000000-create-analytics-schema';
import { CreateQuantileSketch1796330100000 } from './migrations/1796330100000-create-quantile-sketch';
import { IncrementalRollups1796330200000 } from './migrations/1796330200000-incremental-rollups';

/** Schema `analytics`: analysis runs, partitioned metric points and their mergeable-quantile rollups. */
export const analyticsModule = defineModule({
  name: 'analytics',
  entities: [AnalysisRun, AnalysisRunMetric, MetricPoint, MetricRollupHourly, MetricRollupDaily, RollupWatermark, RollupDelta],
  migrations: [CreateAnalyticsSchema1796330000000, CreateQuantileSketch1796330100000, IncrementalRollups1796330200000],
});
