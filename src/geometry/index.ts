// Geometry and the differentiable renderer: the public surface of src/geometry.
export * from './camera.js';
export { depthToPoints, pointsToGrid } from './points.js';
export { VIEW_SIZE, checkView, identityView, invertView, rotationMatrices, warpToCanonical, warpToView } from './view.js';
export { gridFaceCount, gridFaces } from './mesh.js';
export {
  type DepthMap,
  type GridCamera,
  type NormalScaling,
  NORMAL_EPS,
  backProject,
  checkDepthMap,
  depthNormals,
  gridCamera,
} from './depth-grid.js';
export { type BuildMeshOptions, type DepthMesh, buildDepthMesh } from './depth-mesh.js';
export { depthToNormals } from './normals.js';
export { LIGHT_SIZE, type Shaded, lambertShading, lightDirections, shade } from './shading.js';
export { canonicalSampleGrid, meshInView } from './fused-warp.js';
export { type Raster, type RenderedDepth, rasterize, renderDepth } from './rasterizer.js';
export { type RenderViewInput, type RenderedView, renderView } from './render.js';
export {
  type AnimationOptions,
  type RelightOptions,
  type YawSweepOptions,
  DEFAULT_BACKGROUND,
  circlingLights,
  renderRelight,
  renderYawSweep,
  yawAngles,
} from './animate.js';
export { type ViewRays, rayPoints, viewRays } from './rays.js';
export { FAR_DELTA, type VolumeRenderInput, type VolumeRendered, importanceDepths, mergeSortedDepths, stratifiedDepths, volumeRender } from './volume-render.js';
