// Every workflow the workers register (workflowsPath points here).
export { analyzeObject } from './analyze';
export { analyzeVideo, fitScene } from './video';
export { analyzeBatch } from './batch';
export { analyzeRaster } from './raster';
export { refitOneScene, refitScenes } from './refit';
