/** tsx's CommonJS register API (its own types are .d.mts/.d.cts, which this project's module resolution does not read). */
declare module 'tsx/cjs/api' {
  /** Lets require() load .ts files; returns the function that undoes it. */
  export function register(): () => void;
}
