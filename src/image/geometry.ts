/**
 * Where an image goes, computed up front from its size alone (pure), so the whole of the pixel
 * work can be one sharp pipeline: resize to `resizeWidth × resizeHeight`, keep the window
 * `left, top, width, height` of that, and place it at `x, y` of an `outWidth × outHeight` tensor
 * whose other values are the padding.
 */
import type { ImageResize } from './description.js';

/** The geometry of one image; see the module comment. */
export interface ResizePlan {
  readonly resizeWidth: number;
  readonly resizeHeight: number;
  /** The window of the resized image copied into the tensor (a centre crop, or all of it). */
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
  /** Where the window's top-left lands in the tensor. */
  readonly x: number;
  readonly y: number;
  /** The tensor's spatial size; beyond the window it holds the padding value. */
  readonly outWidth: number;
  readonly outHeight: number;
}

/** Python's `round`: halves go to the even neighbour (torchvision and PaddleOCR round so). */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

function whole(width: number, height: number, outWidth = width, outHeight = height, x = 0, y = 0): ResizePlan {
  return { resizeWidth: width, resizeHeight: height, left: 0, top: 0, width, height, x, y, outWidth, outHeight };
}

/**
 * Plans the geometry of an image of `width × height` (as viewed, i.e. after EXIF orientation)
 * for a resize mode; see {@link ImageResize} for what each mode does.
 * @example planResize({ mode: 'shorter-side', size: 256, crop: 224 }, 640, 480) // resize to 341×256, crop 224×224 at (58, 16)
 */
export function planResize(resize: ImageResize, width: number, height: number): ResizePlan {
  switch (resize.mode) {
    case 'stretch':
      return whole(resize.width, resize.height);
    case 'shorter-side': {
      const { size, crop } = resize;
      // torchvision's Resize(int): the longer side is truncated, int(size * long / short).
      const [w, h] = width <= height ? [size, Math.floor((size * height) / width)] : [Math.floor((size * width) / height), size];
      // torchvision's CenterCrop: offsets rounded half to even (Python's round).
      const left = roundHalfEven((w - crop) / 2);
      const top = roundHalfEven((h - crop) / 2);
      return { resizeWidth: w, resizeHeight: h, left, top, width: crop, height: crop, x: 0, y: 0, outWidth: crop, outHeight: crop };
    }
    case 'pad': {
      const ratio = Math.min(resize.width / width, resize.height / height);
      const w = Math.max(1, Math.min(resize.width, Math.round(width * ratio)));
      const h = Math.max(1, Math.min(resize.height, Math.round(height * ratio)));
      return whole(w, h, resize.width, resize.height, Math.floor((resize.width - w) / 2), Math.floor((resize.height - h) / 2));
    }
    case 'height': {
      const w = Math.max(1, Math.min(resize.maxWidth, Math.ceil((resize.height * width) / height)));
      if (resize.minWidth === undefined && resize.multiple === undefined) return whole(w, resize.height, resize.maxWidth, resize.height);
      const rounded = resize.multiple === undefined ? w : Math.ceil(w / resize.multiple) * resize.multiple;
      const out = Math.min(resize.maxWidth, Math.max(resize.minWidth ?? 0, rounded));
      return whole(w, resize.height, Math.max(out, w), resize.height);
    }
    case 'multiple-of': {
      const longer = Math.max(width, height);
      const ratio = longer > resize.maxSide ? resize.maxSide / longer : 1;
      const round = (length: number): number => Math.max(resize.multiple, roundHalfEven((length * ratio) / resize.multiple) * resize.multiple);
      return whole(round(width), round(height));
    }
  }
}

/**
 * The tensor's spatial size when it is the same for every image (`[height, width]`), else
 * undefined (`multiple-of`, and `height` with `minWidth` or `multiple`, follow the image).
 */
export function fixedOutputSize(resize: ImageResize): readonly [number, number] | undefined {
  switch (resize.mode) {
    case 'stretch':
    case 'pad':
      return [resize.height, resize.width];
    case 'shorter-side':
      return [resize.crop, resize.crop];
    case 'height':
      return resize.minWidth === undefined && resize.multiple === undefined ? [resize.height, resize.maxWidth] : undefined;
    case 'multiple-of':
      return undefined;
  }
}
