/** Types for the part of @radiantearth/stac-migrate (CommonJS, ships no declarations) that media/stac.ts uses. */
declare module '@radiantearth/stac-migrate' {
  interface StacMigrate {
    /** Migrates a STAC object of any version (0.6 .. 1.1) in place to STAC 1.1 and returns it. */
    stac<T extends object>(object: T, updateVersionNumber?: boolean): T;
    item<T extends object>(item: T, collection?: object | null, updateVersionNumber?: boolean): T;
  }
  const Migrate: StacMigrate;
  export = Migrate;
}
