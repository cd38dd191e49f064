// Public API of gan3d's file input/output.
export { writeFileAtomic, writeFilesAtomic, type OutputFile, type WriteOptions } from './atomic-write.js';
export {
  decodeDepth16,
  encodeDepth16,
  readDepthPng,
  SYNFACE_DEPTH_RANGE,
  writeDepthPng,
  type DepthRange,
  type EncodeDepthOptions,
  type ReadDepthOptions,
} from './depth-png.js';
export { colorizeDepth, turbo, type DepthColorOptions } from './colormap.js';
export { fromExportPosition, METRIC_FRAME, OBJ_FRAME, toExportNormals, toExportPositions, type ExportFrame } from './export-frame.js';
export { encodeGif, writeGif, type FrameStack, type GifOptions } from './gif.js';
export { encodeGlb, writeGlb, type GlbOptions } from './glb.js';
export {
  decodeImage,
  decodeImagePixels,
  DEFAULT_MAX_PIXELS,
  imageToTensor,
  readImage,
  readImageTensor,
  SUPPORTED_IMAGE_FORMATS,
  type CropMode,
  type DecodedPixels,
  type ImageArray,
  type ReadImageOptions,
  type ResizeKernel,
} from './image.js';
export { MESH_FORMATS, meshFormatOf, writeMesh, type MeshExportOptions, type MeshFormat } from './mesh-export.js';
export { encodeObj, objCompanionPaths, writeObj, type ObjOptions, type ObjPaths, type ObjText } from './obj.js';
export { encodePly, writePly, type PlyOptions } from './ply.js';
export {
  encodePng16Grey,
  encodePng8,
  readPng16Grey,
  signedToUint8,
  writeImagePng,
  writeImageTensor,
  writePng16Grey,
  writePng8,
  type Grey16Image,
  type PngChannels,
} from './png.js';
export { readInputFile } from './read-file.js';
export { centerSquare, cropChannel, resizeBilinear } from './resample.js';
export { toRgbTexture, type RgbTexture, type TextureInput } from './texture.js';
export { gan3dVersion } from './version.js';
