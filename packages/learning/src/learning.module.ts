import { defineModule } from '@strata/base';
import { Artifact, ArtifactBlob, MlModel, ModelAlias, ModelAliasMove, ModelVersion, ModelVersionArtifact } from './entities';
import { CreateLearningSchema1796340000000 } from './migrations/1796340000000-create-learning-schema';

/**
 * Schema `learning`, part 1: the model registry (models, versions, aliases,
 * lineage) and content-addressed artifacts.
 */
export const learningModule = defineModule({
  name: 'learning',
  entities: [MlModel, ModelVersion, ModelAlias, ModelAliasMove, Artifact, ArtifactBlob, ModelVersionArtifact],
  migrations: [CreateLearningSchema1796340000000],
});
