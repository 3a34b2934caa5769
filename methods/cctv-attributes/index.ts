/**
 * cctv-attributes: attribute-based anomaly detection for fixed cameras (speed, direction, where/what,
 * size, dwell, deep appearance), each scored against the scene's normal footage per image region and
 * calibrated on held-out normal footage; every flagged object carries human-readable reasons.
 * See README.md in this folder.
 */
export {
  SegmentAnalyzer,
  AnalyzerError,
  type AnalyzerOptions,
  type AnalyzerState,
  type CropEmbedder,
  type FrameDetector,
  type RgbFrame,
} from './analyzer';
export {
  AttributeModelError,
  DEFAULT_CLASS_GROUPS,
  MODEL_FORMAT,
  MODEL_VERSION,
  PARTS,
  fitAttributeModel,
  frameScores,
  parseAttributeModel,
  scoreObservations,
  serializeAttributeModel,
  type AttributeFitOptions,
  type AttributeModel,
  type FitReport,
  type FrameScore,
  type Part,
  type Reason,
  type ScoredFrame,
  type ScoredObject,
  type SmootherState,
} from './model';
export { footPoint, trackVelocity, type FrameObservations, type ObjectObservation } from './observations';
export { embeddingPlotPng, embeddingPlotSvg } from './plot';
export { ATTRIBUTES_SCENE_FORMAT, cctvAttributesMethod, decodeObservations, encodeObservations } from './method';
