/** Whole seconds since the epoch; every stored and signed time uses this unit. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
