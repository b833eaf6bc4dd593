/** The metadata_props keys kiln writes into the models it rewrites (light to import: no schema). */

/** A model whose image preprocessing kiln folded in (its value: the fold's options as JSON; see the fold-image-preprocess pass). */
export const FOLDED_PREPROCESS_KEY = 'kiln.preprocess_folded';
