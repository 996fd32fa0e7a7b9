import { defineModule } from '@strata/base';
import {
  Artifact,
  ArtifactBlob,
  FeatureRow,
  FeatureView,
  MlModel,
  ModelAlias,
  ModelAliasMove,
  ModelVersion,
  ModelVersionArtifact,
  OnlineFeature,
  Prediction,
} from './entities';
import { CreateLearningSchema1796340000000 } from './migrations/1796340000000-create-learning-schema';
import { CreateFeatureStore1796340100000 } from './migrations/1796340100000-create-feature-store';
import { CreatePredictions1796340200000 } from './migrations/1796340200000-create-predictions';

/**
 * Schema `learning`, part 1: the model registry (models, versions, aliases,
 * lineage), content-addressed artifacts, the feature store, and predictions
 * with their feedback.
 */
export const learningModule = defineModule({
  name: 'learning',
  entities: [
    MlModel,
    ModelVersion,
    ModelAlias,
    ModelAliasMove,
    Artifact,
    ArtifactBlob,
    ModelVersionArtifact,
    FeatureView,
    FeatureRow,
    OnlineFeature,
    Prediction,
  ],
  migrations: [CreateLearningSchema1796340000000, CreateFeatureStore1796340100000, CreatePredictions1796340200000],
});
