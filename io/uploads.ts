/** What an upload tells the pipeline, as object metadata: shared by `lookout upload` and the review UI's Upload page. */

export interface UploadOptions {
  /** Run tag (rows carry it as run_tag). */
  run: string;
  /** Pipeline for these objects (unset: the deployment's default, $LOOKOUT_PIPELINE). */
  pipeline?: string;
  /** CCTV scene model. */
  scene?: string;
  /** Videos: analyse every Nth frame. */
  every?: number;
}

/** The object metadata keys the dispatcher reads (lookout-run, lookout-pipeline, lookout-scene, lookout-video-every). */
export function uploadMetadata(o: UploadOptions): Record<string, string> {
  const metadata: Record<string, string> = { 'lookout-run': o.run };
  if (o.pipeline) metadata['lookout-pipeline'] = o.pipeline;
  if (o.scene) metadata['lookout-scene'] = o.scene;
  if (o.every !== undefined) metadata['lookout-video-every'] = String(o.every);
  return metadata;
}

/** A run tag for an upload that names none: upload-YYYYMMDDhhmmss. */
export function defaultUploadRun(now = new Date()): string {
  return `upload-${now
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14)}`;
}
