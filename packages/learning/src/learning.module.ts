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
} from './entities';
import { CreateLearningSchema1796340000000 } from './migrations/1796340000000-create-learning-schema';
import { CreateFeatureStore1796340100000 } from './migrations/1796340100000-create-feature-store';

/**
 * Schema `learning`, part 1: the model registry (models, versions, aliases,
 * lineage), content-addressed artifacts, and the feature store.
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
  ],
  migrations: [CreateLearningSchema1796340000000, CreateFeatureStore1796340100000],
});
