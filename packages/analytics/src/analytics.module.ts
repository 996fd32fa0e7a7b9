import { defineModule } from '@strata/base';
import {
  AnalysisRun,
  AnalysisRunMetric,
  MetricPoint,
  MetricRollupDaily,
  MetricRollupHourly,
  RollupDelta,
  RollupWatermark,
  Experiment,
  ExperimentAssignment,
} from './entities';
import { CreateAnalyticsSchema1796330000000 } from './migrations/1796330000000-create-analytics-schema';
import { CreateQuantileSketch1796330100000 } from './migrations/1796330100000-create-quantile-sketch';
import { IncrementalRollups1796330200000 } from './migrations/1796330200000-incremental-rollups';
import { CreateExperiments1796330500000 } from './migrations/1796330500000-create-experiments';

/** Schema `analytics`: analysis runs, partitioned metric points and their mergeable-quantile rollups. */
export const analyticsModule = defineModule({
  name: 'analytics',
  entities: [
    AnalysisRun,
    AnalysisRunMetric,
    MetricPoint,
    MetricRollupHourly,
    MetricRollupDaily,
    RollupWatermark,
    RollupDelta,
    Experiment,
    ExperimentAssignment,
  ],
  migrations: [
    CreateAnalyticsSchema1796330000000,
    CreateQuantileSketch1796330100000,
    IncrementalRollups1796330200000,
    CreateExperiments1796330500000,
  ],
});
